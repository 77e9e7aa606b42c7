"""A date on a TIMESTAMPTZ column means a UTC day, whatever the machine's TZ (DESIGN §1.2).

DuckDB's session time zone follows ``TZ``, read once per process, so each zone runs in its own
interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from herald.workspace import Workspace

# Sign-ups near midnight UTC. In UTC, c1 and c3 signed up on 1 March 2026; in Los Angeles c1's
# was still 28 February, in Tokyo c2's was already 1 March.
SIGN_UPS = {
    "c1": "2026-03-01 02:00:00+00",
    "c2": "2026-02-28 20:00:00+00",
    "c3": "2026-03-01 23:30:00+00",
    "c4": "2026-03-02 00:30:00+00",
}

PROBE = """
import sys
from herald.core.segments import parse_segment
from herald.workspace import Workspace

segment = parse_segment({
    "name": "Signed Up On 1 March",
    "where": [{"attribute": "Customer_360.signed_up_at", "op": "is", "value": "2026-03-01"}],
})
with Workspace.open(sys.argv[1]) as ws:
    ids = ws.engine.query(ws.segments.compile(segment)).column(0).to_pylist()
print(",".join(sorted(ids)))
"""


@pytest.fixture(scope="module")
def workspace_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tz")
    database = folder / "customers.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE TABLE Customer_360 (amperity_id VARCHAR, signed_up_at TIMESTAMPTZ)")
        con.executemany(
            "INSERT INTO Customer_360 VALUES (?, CAST(? AS TIMESTAMPTZ))", list(SIGN_UPS.items())
        )
    with Workspace.init(folder / "ws", database=str(database)) as ws:
        return ws.root


@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles", "Asia/Tokyo"])
def test_date_condition_selects_the_same_customers_in_every_time_zone(
    workspace_root: Path, zone: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(workspace_root)],
        env={**os.environ, "TZ": zone},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "c1,c3"
