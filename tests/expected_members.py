"""What a delivery must hold, computed independently of Herald: the valid emails (as
email-validator normalizes them, lower case) of the customers a run's snapshot puts in a group."""

from __future__ import annotations

from pathlib import Path

import duckdb
from email_validator import EmailNotValidError, validate_email


def expected_emails(root: Path, database: Path, run_id: str, group: str) -> set[str]:
    """The valid emails of ``group`` in run ``run_id`` of the workspace at ``root``, read from
    its snapshot and the customer ``database``'s Merged_Customers."""
    snapshot = root / ".herald" / "runs" / run_id / "recipients.parquet"
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            f"""SELECT m.email FROM read_parquet('{snapshot}') s
                JOIN Merged_Customers m USING (amperity_id)
                WHERE s."group" = ? AND m.email IS NOT NULL""",
            [group],
        ).fetchall()
    found = set()
    for (email,) in rows:
        try:
            found.add(validate_email(email.strip(), check_deliverability=False).normalized)
        except EmailNotValidError:
            continue
    return {e.lower() for e in found}
