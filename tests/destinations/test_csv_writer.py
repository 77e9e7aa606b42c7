"""The CSV writer of the file destinations: header, quoting, text encoding, formula protection,
split files, gzip, files written whole, and exact round trips through Python's ``csv`` module
and PyArrow's CSV reader."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import itertools
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from pydantic import ValidationError

from herald.atomic import partial_path
from herald.destinations.csv_writer import CsvOptions, WrittenFile, write_csv_files
from herald.exceptions import FatalSyncError

PLAIN = CsvOptions(protect_formulas=False)


def write(
    tmp_path: Path, records: pa.Table | pa.RecordBatchReader, **options: Any
) -> list[WrittenFile]:
    columns = [(name, name) for name in records.schema.names]
    return write_csv_files(records, tmp_path, "out", columns, CsvOptions(**options))


def read_rows(path: Path) -> list[list[str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as file:
        return list(csv.reader(file))


def assert_on_disk(file: WrittenFile) -> None:
    data = file.path.read_bytes()
    assert (file.size, file.sha256) == (len(data), hashlib.sha256(data).hexdigest())


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- header ---------------------------------------------------------------------------------


def test_the_header_has_exactly_the_names_given_in_their_order(tmp_path: Path) -> None:
    table = pa.table({"email": ["a@example.com"], "k": ["1"], "unused": ["x"]})
    columns = [("k", "ExternalID"), ("email", "Email"), ("email", "Email copy")]
    [file] = write_csv_files(table, tmp_path, "out", columns, CsvOptions())
    assert file.path.read_text(encoding="utf-8").splitlines() == [
        "ExternalID,Email,Email copy",
        '"1","a@example.com","a@example.com"',
    ]
    assert file.rows == 1


def test_a_header_name_is_quoted_only_when_it_must_be(tmp_path: Path) -> None:
    table = pa.table({"a": [1], "b": [2], "c": [3]})
    columns = [("a", "First Name"), ("b", 'Say "hi", then'), ("c", "=not a formula")]
    [file] = write_csv_files(table, tmp_path, "out", columns, CsvOptions())
    first = file.path.read_text(encoding="utf-8").splitlines()[0]
    assert first == 'First Name,"Say ""hi"", then",=not a formula'
    assert read_rows(file.path)[0] == ["First Name", 'Say "hi", then', "=not a formula"]


@pytest.mark.parametrize("split", [{}, {"split_rows": 10}])
def test_no_records_still_make_one_file_holding_the_header(
    tmp_path: Path, split: dict[str, int]
) -> None:
    schema = pa.schema([("Email", pa.string()), ("n", pa.int64())])
    empty = pa.RecordBatchReader.from_batches(schema, iter([]))
    [file] = write(tmp_path, empty, **split)
    assert file.path.name == ("out_001.csv" if split else "out.csv")
    assert file.path.read_bytes() == b"Email,n\n"
    assert file.rows == 0
    assert_on_disk(file)


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="Email"):
        write_csv_files(pa.table({"e": ["x"]}), tmp_path, "out", [("Email", "Email")], PLAIN)


@pytest.mark.parametrize("rows", [1, 0])
def test_a_column_of_lists_is_refused_by_name(tmp_path: Path, rows: int) -> None:
    table = pa.table({"tags": [["a", "b"]]}).slice(0, rows)
    with pytest.raises(FatalSyncError, match="'tags' holds list<item: string>"):
        write(tmp_path, table)
    assert names_in(tmp_path) == []  # nothing left behind, not even a partial file


# --- quoting, text, values ------------------------------------------------------------------


def test_rfc_4180_quoting(tmp_path: Path) -> None:
    values = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\r\nlf", "", None, " padded "]
    table = pa.table({"text": values, "n": list(range(len(values)))})
    [file] = write(tmp_path, table, protect_formulas=False)
    assert file.path.read_bytes() == (
        b"text,n\n"
        b'"plain",0\n'
        b'"a,b",1\n'
        b'"say ""hi""",2\n'
        b'"two\nlines",3\n'
        b'"cr\r\nlf",4\n'
        b'"",5\n'
        b",6\n"
        b'" padded ",7\n'
    )
    rows = read_rows(file.path)
    assert [row[0] for row in rows[1:]] == [v or "" for v in values]


def test_text_is_utf8_without_a_byte_order_mark(tmp_path: Path) -> None:
    values = ["Zoë", "東京", "😀 emoji", "مرحبا", "naïve café", "Ωmega"]
    [file] = write(tmp_path, pa.table({"Name": values}))
    data = file.path.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8").startswith("Name\n")
    assert [row[0] for row in read_rows(file.path)[1:]] == values


def test_values_are_written_as_duckdb_wrote_them(tmp_path: Path) -> None:
    """The csv_file destination's files keep the values they had when DuckDB wrote them."""
    utc = dt.UTC
    table = pa.table(
        {
            "i": pa.array([-7, None], pa.int32()),
            "f": pa.array([0.1, 2.0]),
            "d": pa.array([Decimal("-1.50"), Decimal("0.00")], pa.decimal128(10, 2)),
            "b": [True, False],
            "day": [dt.date(2026, 6, 30), None],
            "at": pa.array(
                [dt.datetime(2026, 6, 30, 14, 5, 9), dt.datetime(2026, 6, 30, 14, 5, 9, 250000)],
                pa.timestamp("us"),
            ),
            "zoned": pa.array(
                [dt.datetime(2026, 6, 30, 14, 5, 9, tzinfo=utc), None],
                pa.timestamp("ms", tz="America/Los_Angeles"),
            ),
            "time": [dt.time(14, 5, 9), dt.time(0, 0, 0, 500)],
        }
    )
    [file] = write(tmp_path, table)
    assert file.path.read_text(encoding="utf-8").splitlines()[1:] == [
        '-7,0.1,-1.50,true,2026-06-30,"2026-06-30 14:05:09","2026-06-30 14:05:09+00","14:05:09"',
        ',2,0.00,false,,"2026-06-30 14:05:09.25",,"00:00:00.0005"',
    ]


def test_dictionary_and_large_text_columns_are_text(tmp_path: Path) -> None:
    table = pa.table(
        {
            "dict": pa.array(["=x", "y", "=x"]).dictionary_encode(),
            "large": pa.array(["-x", "b", None], pa.large_string()),
        }
    )
    [file] = write(tmp_path, table)
    assert read_rows(file.path)[1:] == [["'=x", "'-x"], ["y", "b"], ["'=x", ""]]


# --- formula injection ----------------------------------------------------------------------

RISKY = [
    "=SUM(A1:A9)",
    "=1+2",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1,1)",
    "\t=1",
    "\r=1",
    "\t123",
    "-",
    "+1e5",
]
HARMLESS = ["a=b", " =1", "", "'=already", "1-2", "é=", "＝fullwidth"]
NUMBERS = ["+15005550006", "+1 (500) 555-0006", "-12.5", "-2+3", "+0"]


def test_text_that_a_spreadsheet_would_run_gets_an_apostrophe(tmp_path: Path) -> None:
    n = len(RISKY + HARMLESS + NUMBERS)
    table = pa.table(
        {
            "text": RISKY + HARMLESS + NUMBERS,
            "int": pa.array([-5] * n, pa.int64()),
            "float": pa.array([-0.5] * n),
            "decimal": pa.array([Decimal("-1.25")] * n, pa.decimal128(6, 2)),
        }
    )
    [file] = write(tmp_path, table)
    rows = read_rows(file.path)[1:]
    # A number or phone number written as text can only be computed, not run: it stays.
    assert [row[0] for row in rows] == ["'" + v for v in RISKY] + HARMLESS + NUMBERS
    # Numbers are not text: a negative number stays a number.
    assert {tuple(row[1:]) for row in rows} == {("-5", "-0.5", "-1.25")}


def test_formula_protection_can_be_turned_off(tmp_path: Path) -> None:
    [file] = write(tmp_path, pa.table({"text": RISKY}), protect_formulas=False)
    assert [row[0] for row in read_rows(file.path)[1:]] == RISKY


def test_protection_is_on_by_default() -> None:
    assert CsvOptions().protect_formulas is True


# --- split files ----------------------------------------------------------------------------


def numbered_table(n: int, *, width: int = 1) -> pa.Table:
    return pa.table(
        {"k": [f"k{i:06d}" for i in range(n)], "pad": ["x" * (width + i % 7) for i in range(n)]}
    )


def in_batches(table: pa.Table, rows: int) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=rows))


def data_rows(files: list[WrittenFile]) -> list[list[str]]:
    """Every file's data rows, in order, checking each file starts with the header."""
    found: list[list[str]] = []
    for file in files:
        rows = read_rows(file.path)
        assert rows[0] == ["k", "pad"], file.path.name
        assert len(rows) - 1 == file.rows
        found += rows[1:]
    return found


def expected_rows(table: pa.Table) -> list[list[str]]:
    return [[row["k"], row["pad"]] for row in table.to_pylist()]


@pytest.mark.parametrize(("total", "per_file"), [(10, 3), (9, 3), (3, 3), (1000, 7)])
def test_split_by_rows_keeps_every_row_once_in_order(
    tmp_path: Path, total: int, per_file: int
) -> None:
    table = numbered_table(total)
    files = write(tmp_path, in_batches(table, 4), split_rows=per_file)

    count = -(-total // per_file)
    assert [f.path.name for f in files] == [f"out_{i:03d}.csv" for i in range(1, count + 1)]
    assert [f.rows for f in files] == [per_file] * (count - 1) + [total - per_file * (count - 1)]
    assert data_rows(files) == expected_rows(table)
    assert names_in(tmp_path) == [f.path.name for f in files]  # no partial file left
    for file in files:
        assert_on_disk(file)


@pytest.mark.parametrize("batch_rows", [5, 5000])
def test_split_by_bytes_keeps_files_under_the_limit_and_fills_them(
    tmp_path: Path, batch_rows: int
) -> None:
    table = numbered_table(3000, width=20)
    limit = 4096
    files = write(tmp_path, in_batches(table, batch_rows), split_bytes=limit)

    assert len(files) > 10
    assert data_rows(files) == expected_rows(table)
    for file, following in itertools.pairwise(files):
        assert file.size <= limit
        # Full: the next file's first row would not have fit.
        first_row = following.path.read_bytes().split(b"\n")[1]
        assert file.size + len(first_row) + 1 > limit
    assert files[-1].size <= limit


def test_a_row_longer_than_the_byte_limit_gets_a_file_of_its_own(tmp_path: Path) -> None:
    table = pa.table({"k": ["a", "b", "c"], "pad": ["x", "y" * 5000, "z"]})
    files = write(tmp_path, table, split_bytes=1024)
    assert [f.rows for f in files] == [1, 1, 1]
    assert files[1].size > 1024
    assert [row for f in files for row in read_rows(f.path)[1:]] == [
        ["a", "x"],
        ["b", "y" * 5000],
        ["c", "z"],
    ]


def test_both_limits_apply(tmp_path: Path) -> None:
    table = numbered_table(500, width=20)
    files = write(tmp_path, table, split_rows=40, split_bytes=2048)
    assert all(f.rows <= 40 and f.size <= 2048 for f in files)
    assert data_rows(files) == expected_rows(table)


@pytest.mark.parametrize(("key", "value"), [("split_rows", 0), ("split_bytes", 100)])
def test_limits_too_small_are_refused(key: str, value: int) -> None:
    with pytest.raises(ValidationError, match=key):
        CsvOptions.model_validate({key: value})


# --- gzip -----------------------------------------------------------------------------------


def test_gzip_files_read_back_with_gzip_and_csv(tmp_path: Path) -> None:
    table = numbered_table(2000, width=30)
    [file] = write(tmp_path, table, gzip=True)
    assert file.path.name == "out.csv.gz"
    assert file.path.read_bytes()[:2] == b"\x1f\x8b"
    assert_on_disk(file)
    assert data_rows([file]) == expected_rows(table)
    assert file.size < len(gzip.decompress(file.path.read_bytes())) / 3
    # No time stamp in the gzip header: the same rows give the same bytes.
    [again] = write(tmp_path / "again", table, gzip=True)
    assert again.sha256 == file.sha256


def test_gzip_split_counts_uncompressed_bytes(tmp_path: Path) -> None:
    table = numbered_table(2000, width=30)
    files = write(tmp_path, table, gzip=True, split_bytes=8192)
    assert [f.path.name for f in files][:2] == ["out_001.csv.gz", "out_002.csv.gz"]
    assert all(len(gzip.decompress(f.path.read_bytes())) <= 8192 for f in files)
    assert data_rows(files) == expected_rows(table)
    for file in files:
        assert_on_disk(file)


# --- files whole, records streamed ----------------------------------------------------------


def test_a_failure_while_writing_leaves_no_file(tmp_path: Path) -> None:
    table = numbered_table(100)

    def failing() -> Iterator[pa.RecordBatch]:
        yield from table.to_batches(max_chunksize=10)[:3]
        raise RuntimeError("the source broke")

    reader = pa.RecordBatchReader.from_batches(table.schema, failing())
    with pytest.raises(RuntimeError, match="the source broke"):
        write(tmp_path, reader)
    assert names_in(tmp_path) == []


def test_a_file_replaces_the_one_of_its_name(tmp_path: Path) -> None:
    (tmp_path / "out.csv").write_text("old\n")
    [file] = write(tmp_path, numbered_table(2))
    assert read_rows(file.path)[0] == ["k", "pad"]


def generated(batches: int, rows: int, seen: list[int]) -> pa.RecordBatchReader:
    """A reader making its batches as they are asked for, noting each one's number."""
    schema = pa.schema([("k", pa.string()), ("pad", pa.string())])

    def make() -> Iterator[pa.RecordBatch]:
        for number in range(batches):
            seen.append(number)
            keys = pc.cast(pa.array(range(number * rows, (number + 1) * rows)), pa.string())
            pad = pc.binary_join_element_wise(keys, pa.scalar("-" + "x" * 40), "")
            yield pa.RecordBatch.from_arrays([keys, pad], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, make())


def test_records_are_written_as_they_are_read(tmp_path: Path) -> None:
    """Each file is on disk, complete, before the records after it are read; the one file
    being written grows while the records are read."""
    seen: list[int] = []
    files_when: dict[int, list[str]] = {}
    partial_sizes: list[int] = []
    reader = generated(40, 2_000, seen)

    def watch() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            files_when[seen[-1]] = names_in(tmp_path)
            partial = partial_path(tmp_path / "out_002.csv")
            partial_sizes.append(partial.stat().st_size if partial.exists() else 0)
            yield batch

    files = write(
        tmp_path, pa.RecordBatchReader.from_batches(reader.schema, watch()), split_rows=20_000
    )
    assert [f.rows for f in files] == [20_000] * 4
    # The first file (10 batches) was complete and in place when batch 11 was read ...
    assert "out_001.csv" in files_when[11]
    assert "out_001.csv" not in files_when[9]
    # ... and the second was being written, batch by batch, while its records were read.
    assert 0 < partial_sizes[13] < partial_sizes[16] < partial_sizes[19]


def test_memory_stays_bounded_whatever_the_records(tmp_path: Path) -> None:
    """Arrow's memory while writing ~100 MB of CSV stays a few MB."""
    seen: list[int] = []
    reader = generated(50, 40_000, seen)
    peak = 0

    def watch() -> Iterator[pa.RecordBatch]:
        nonlocal peak
        for batch in reader:
            peak = max(peak, pa.total_allocated_bytes())
            yield batch

    start = pa.total_allocated_bytes()
    [file] = write(tmp_path, pa.RecordBatchReader.from_batches(reader.schema, watch()))
    assert file.rows == 2_000_000
    assert file.size > 90_000_000
    assert peak - start < 20_000_000


# --- round trip -----------------------------------------------------------------------------

TEXT = "abcxyzABC019 ,;\"'\n\r\t=+-@é漢字😀"


def random_table(n: int, seed: int) -> pa.Table:
    """``n`` records of every kind a group's fields hold, each column with nulls; the text
    has quotes, commas, line breaks, formula starts and characters beyond ASCII."""
    rng = random.Random(seed)

    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.05 else value

    def text() -> str:
        return "".join(rng.choice(TEXT) for _ in range(rng.randint(0, 12)))

    start = dt.datetime(1970, 1, 1)
    return pa.table(
        {
            "text": pa.array([maybe(text()) for _ in range(n)], pa.string()),
            "int": pa.array([maybe(rng.randint(-(2**63), 2**63 - 1)) for _ in range(n)]),
            "float": pa.array(
                [
                    maybe(rng.choice([rng.uniform(-1e6, 1e6), rng.random() * 1e-300, -1e308, 0.0]))
                    for _ in range(n)
                ],
                pa.float64(),
            ),
            "decimal": pa.array(
                [maybe(Decimal(rng.randint(-(10**17), 10**17)).scaleb(-4)) for _ in range(n)],
                pa.decimal128(18, 4),
            ),
            "date": pa.array(
                [maybe(dt.date(1900, 1, 1) + dt.timedelta(rng.randint(0, 70000))) for _ in range(n)]
            ),
            "timestamp": pa.array(
                [maybe(start + dt.timedelta(microseconds=rng.randint(0, 2**50))) for _ in range(n)],
                pa.timestamp("us"),
            ),
            "zoned": pa.array(
                [maybe(start + dt.timedelta(seconds=rng.randint(0, 2**31))) for _ in range(n)],
                pa.timestamp("us", tz="UTC"),
            ),
            "bool": pa.array([maybe(rng.random() < 0.5) for _ in range(n)]),
        }
    )


ROWS = 100_000
PARSERS: dict[str, Any] = {
    "text": str,
    "int": int,
    "float": float,
    "decimal": Decimal,
    "date": dt.date.fromisoformat,
    "timestamp": dt.datetime.fromisoformat,
    "zoned": dt.datetime.fromisoformat,
    "bool": {"true": True, "false": False}.__getitem__,
}


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory: pytest.TempPathFactory) -> tuple[pa.Table, Path]:
    """100,000 random records (every kind of value, 5 % nulls) and the file written."""
    table = random_table(ROWS, seed=12)
    folder = tmp_path_factory.mktemp("round_trip")
    columns = [(name, name) for name in table.column_names]
    [file] = write_csv_files(in_batches(table, 7_000), folder, "out", columns, PLAIN)
    assert file.rows == ROWS
    return table, file.path


def test_round_trip_through_python_csv_gives_back_the_records(
    round_trip: tuple[pa.Table, Path],
) -> None:
    table, path = round_trip
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == table.column_names
    assert len(rows) == ROWS + 1
    for name, cells in zip(table.column_names, zip(*rows[1:], strict=True), strict=True):
        parse = PARSERS[name]
        expected = table[name].to_pylist()
        if name == "text":
            # The csv module reads a null and an empty text alike ("" both): PyArrow's reader
            # below tells them apart.
            assert list(cells) == [value or "" for value in expected]
            continue
        got = [parse(cell) if cell else None for cell in cells]
        assert got == expected, name
        if name == "decimal":  # every digit of the scale, not only the value
            assert [str(v) for v in got] == [str(v) for v in expected]


def test_round_trip_through_pyarrow_gives_back_the_records(
    round_trip: tuple[pa.Table, Path],
) -> None:
    table, path = round_trip
    read = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=table.schema,
            strings_can_be_null=True,  # an empty field is a null ...
            quoted_strings_can_be_null=False,  # ... and "" an empty text
        ),
    )
    assert read.schema == table.schema
    for name in table.column_names:
        assert read[name].equals(table[name]), name
    assert pc.sum(pc.is_null(read["text"])).as_py() > 1000
    assert pc.sum(pc.equal(read["text"], "")).as_py() > 1000
