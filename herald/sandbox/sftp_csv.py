"""The SFTP sandbox's reading of a profile CSV, as Klaviyo describes its SFTP import.

A file is checked whole before any row is imported (``check_file``): a header row holding at
least one of the exact, case-sensitive headers ``Email``, ``PhoneNumber``, ``ExternalID``, no
header repeated or empty, UTF-8 (a leading byte-order mark is allowed), RFC 4180 quoting and,
for ``.csv.gz``, valid gzip. A file that fails is rejected as a whole. A row that has no
identifier value, or not as many fields as the header, is rejected alone, with its number; the
other rows are imported. Rows are numbered as a spreadsheet numbers them: the header is row 1.

``profiles`` then turns the accepted rows into Klaviyo profile attributes: the identifiers
become ``email``, ``phone_number`` and ``external_id``, every other column a custom property
(as text), and empty values are left out.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The exact CSV headers Klaviyo's SFTP import takes as identifiers, and the profile
#: attributes they fill.
IDENTIFIER_HEADERS = {"Email": "email", "PhoneNumber": "phone_number", "ExternalID": "external_id"}

#: Files in ``profiles/`` that are imported; any other name is left alone.
IMPORTED_SUFFIXES = (".csv", ".csv.gz")


def is_import_name(name: str) -> bool:
    """Whether a file named ``name`` in ``profiles/`` is a finished CSV to import.

    A name starting with ``.`` is a partial upload (Herald uploads ``.NAME.herald-partial``
    and renames it when complete), and so is one ending with ``.herald-partial``, ``.part`` or
    ``.tmp``: none of those ends with ``.csv`` or ``.csv.gz``.

    >>> [is_import_name(n) for n in ["a.csv", "a.CSV.gz", ".a.csv", "a.csv.part", "a.txt"]]
    [True, True, False, False, False]
    """
    return not name.startswith(".") and name.lower().endswith(IMPORTED_SUFFIXES)


@dataclass(frozen=True)
class Rejected:
    """A row that was not imported, and why (never its values).

    Attributes:
        row: the row's number, the header being row 1; None when Klaviyo's error did not say
            which profile it was.
        reason: what is wrong with it.
    """

    row: int | None
    reason: str


@dataclass
class Checked:
    """A file that passed the file-level checks.

    Attributes:
        header: the column names, in order.
        rows: data rows in the file (blank lines are not rows).
        rejected: the rows refused by the row checks.
    """

    header: list[str]
    rows: int = 0
    rejected: list[Rejected] = field(default_factory=list)


class CsvProblemError(ValueError):
    """The file as a whole cannot be imported; the message says why, in one line."""


@contextmanager
def _text(path: Path) -> Iterator[io.TextIOWrapper]:
    gz = path.name.lower().endswith(".gz")
    with (
        gzip.open(path, "rb") if gz else path.open("rb") as raw,
        io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text,
    ):
        yield text


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(row number, fields) for every non-blank record, the header first.

    Raises:
        CsvProblemError: the file is not UTF-8, not valid CSV or not valid gzip.
    """
    number = 0
    try:
        with _text(path) as text:
            reader = csv.reader(text, strict=True)
            for fields in reader:
                number += 1
                if fields:
                    yield number, fields
    except UnicodeDecodeError:
        msg = f"not UTF-8 (after row {number}): save the file as UTF-8"
        raise CsvProblemError(msg) from None
    except csv.Error as exc:
        msg = f"not valid CSV at row {number + 1} ({exc}): quote fields as RFC 4180 says"
        raise CsvProblemError(msg) from None
    except (gzip.BadGzipFile, EOFError, zlib.error):
        msg = "not a complete gzip file: upload it again, or as plain .csv"
        raise CsvProblemError(msg) from None


def check_header(header: list[str]) -> None:
    """Check the header row as Klaviyo's SFTP import describes it.

    >>> check_header(["email", "Name"])
    Traceback (most recent call last):
    ...
    herald.sandbox.sftp_csv.CsvProblemError: no Email, PhoneNumber or ExternalID header \
(headers are case-sensitive: rename 'email' to 'Email')

    Raises:
        CsvProblemError: no identifier header, or a header repeated or empty.
    """
    for index, name in enumerate(header, start=1):
        if not name.strip():
            msg = f"column {index} has no header: name every column"
            raise CsvProblemError(msg)
        if header.index(name) != index - 1:
            msg = f"the header {name!r} appears more than once: name every column once"
            raise CsvProblemError(msg)
    if not IDENTIFIER_HEADERS.keys() & set(header):
        exact = {k.lower(): k for k in IDENTIFIER_HEADERS}
        near = [(h, exact[h.strip().lower()]) for h in header if h.strip().lower() in exact]
        hint = (
            f" (headers are case-sensitive: rename {near[0][0]!r} to {near[0][1]!r})"
            if near
            else ""
        )
        msg = f"no Email, PhoneNumber or ExternalID header{hint}"
        raise CsvProblemError(msg)


def row_problem(header: list[str], fields: list[str]) -> str | None:
    """Why a data row cannot be imported, or None when it can.

    >>> row_problem(["Email", "Name"], ["", "Ann"])
    'no Email, PhoneNumber or ExternalID value'
    >>> row_problem(["Email", "Name"], ["a@x.io"])
    '1 field(s) where the header has 2'
    """
    if len(fields) != len(header):
        return f"{len(fields)} field(s) where the header has {len(header)}"
    if not any(
        value.strip()
        for name, value in zip(header, fields, strict=True)
        if name in IDENTIFIER_HEADERS
    ):
        return "no Email, PhoneNumber or ExternalID value"
    return None


def check_file(path: Path) -> Checked:
    """Read the whole file once and check it (see the module's docstring).

    Raises:
        CsvProblemError: the file as a whole cannot be imported.
    """
    records = _records(path)
    first = next(records, None)
    if first is None:
        msg = "the file is empty: Klaviyo needs a header row"
        raise CsvProblemError(msg)
    checked = Checked(header=first[1])
    check_header(checked.header)
    for number, fields in records:
        checked.rows += 1
        problem = row_problem(checked.header, fields)
        if problem is not None:
            checked.rejected.append(Rejected(number, problem))
    return checked


def profile(header: list[str], fields: list[str]) -> dict[str, Any]:
    """A row as Klaviyo profile attributes (identifiers, then custom properties).

    >>> profile(["Email", "Tier", "Note"], ["ann@x.io", "gold", ""])
    {'email': 'ann@x.io', 'properties': {'Tier': 'gold'}}
    """
    attributes: dict[str, Any] = {}
    properties: dict[str, str] = {}
    for name, value in zip(header, fields, strict=True):
        if not value:
            continue
        if name in IDENTIFIER_HEADERS:
            attributes[IDENTIFIER_HEADERS[name]] = value
        else:
            properties[name] = value
    if properties:
        attributes["properties"] = properties
    return attributes


def profiles(path: Path, checked: Checked) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, profile attributes) for each row ``check_file`` accepted.

    Raises:
        CsvProblemError: the file changed since it was checked and no longer reads.
    """
    refused = {r.row for r in checked.rejected}
    records = _records(path)
    next(records, None)  # the header, already checked
    for number, fields in records:
        if number not in refused and len(fields) == len(checked.header):
            yield number, profile(checked.header, fields)
