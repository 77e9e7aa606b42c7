"""Streaming preparation: a group's rows a batch at a time give what prepare_records gives."""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kinds import KINDS

from herald.core.campaigns.model import AttributeMapping
from herald.core.prepare import Prepared, prepare_records
from herald.runs.prepared import PreparedGroup, prepare_group

API, SFTP, CSV = KINDS["klaviyo_api"], KINDS["klaviyo_sftp"], KINDS["csv_file"]
EMAIL = AttributeMapping("email", "email")
PHONE = AttributeMapping("phone", "phone_number")
EXTERNAL_ID = AttributeMapping("amperity_id", "external_id")


def stream(rows: pa.Table, batch_rows: int) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches(batch_rows))


def assert_same_as_in_memory(
    rows: pa.Table,
    attributes: list[AttributeMapping],
    batch_rows: int,
    taken: list[object] | None = None,
    **options: object,
) -> PreparedGroup:
    """prepare_group over batches of ``batch_rows`` equals prepare_records over the table
    (with ``taken`` keys as an array there, as a Parquet file here)."""
    key = str(options.get("key", "amperity_id"))
    taken_keys = None if taken is None else pa.array(taken, rows.schema.field(key).type)
    expected = prepare_records(rows, attributes, taken=taken_keys, **options)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as folder:
        path = None
        if taken_keys is not None:
            path = Path(folder) / "taken.parquet"
            pq.write_table(pa.table({key: taken_keys}), path)
        return _streamed(rows, attributes, batch_rows, expected, taken=path, **options)


def _streamed(
    rows: pa.Table,
    attributes: list[AttributeMapping],
    batch_rows: int,
    expected: Prepared,
    **options: object,
) -> PreparedGroup:
    with prepare_group(stream(rows, batch_rows), attributes, **options) as group:  # type: ignore[arg-type]
        assert_same_table(group.table(), expected.records)
        assert group.num_rows == expected.records.num_rows
        assert group.drops == expected.drops
        assert group.dropped.equals(expected.dropped)
        assert group.fields == expected.fields
        return group


def assert_same_table(table: pa.Table, expected: pa.Table) -> None:
    assert table.schema.equals(expected.schema)
    assert repr(table.to_pylist()) == repr(expected.to_pylist())  # NaN equals NaN here


ROWS = pa.table(
    {
        "amperity_id": ["m", "k", "z", "a", "q", "b", "c", "d"],
        "email": [
            "Shared@x.com",
            "bad@",
            "SHARED@X.COM",
            "solo@x.com",
            None,
            "shared@x.com ",
            "ann@bücher.de",
            "ann@xn--bcher-kva.de",
        ],
        "phone": ["(206) 555-0100", None, "garbage", "2065550101", "1", None, "x", None],
        "given_name": ["M", "K", "Z", "A", "Q", "B", "C", "D"],
    }
)
MAPPING = [EMAIL, PHONE, EXTERNAL_ID, AttributeMapping("given_name", "first_name")]


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 5, 100])
@pytest.mark.parametrize(
    ("kind", "options"),
    [(API, {}), (SFTP, {}), (CSV, {}), (CSV, {"dedupe": True})],
)
def test_batches_give_what_the_whole_table_gives(
    batch_rows: int, kind: object, options: dict[str, object]
) -> None:
    mapping = MAPPING
    if kind is SFTP:
        mapping = [AttributeMapping("email", "Email"), AttributeMapping("phone", "PhoneNumber")]
    assert_same_as_in_memory(ROWS, mapping, batch_rows, kind=kind, **options)


def test_a_duplicate_split_across_batches_keeps_the_smallest_key() -> None:
    # The winner ("a") comes in the last batch; the losers in earlier ones.
    rows = pa.table({"amperity_id": ["m", "z", "a"], "email": ["x@y.com", "X@y.com", " x@Y.com"]})
    with prepare_group(stream(rows, 1), [EMAIL], kind=API) as group:
        assert group.table().to_pylist() == [{"email": "x@y.com", "amperity_id": "a"}]
        assert group.drops == {"duplicate_email": 2}
        assert group.dropped.column("amperity_id").to_pylist() == ["m", "z"]


def test_equal_keys_keep_the_first_row() -> None:
    rows = pa.table({"amperity_id": ["k", "k", "j"], "email": ["a@x.com", "a@x.com", "b@x.com"]})
    group = assert_same_as_in_memory(rows, [EMAIL], 1, kind=API)
    assert group.drops == {"duplicate_email": 1}


def test_integer_keys_compare_as_numbers() -> None:
    rows = pa.table({"amperity_id": [10, 9, 1], "email": ["a@x.com", "A@x.com", "a@x..com"]})
    group = assert_same_as_in_memory(rows, [EMAIL], 1, kind=API)
    assert group.drops == {"duplicate_email": 1, "invalid_email": 1}


@pytest.mark.parametrize("batches", [0, 1])
def test_no_rows(batches: int) -> None:
    """No batch at all, or one empty batch."""
    empty = ROWS.slice(0, 0)
    no_rows = pa.RecordBatch.from_pylist([], schema=ROWS.schema)
    reader = pa.RecordBatchReader.from_batches(empty.schema, [no_rows] * batches)
    expected = prepare_records(empty, MAPPING, kind=API)
    with prepare_group(reader, MAPPING, kind=API) as group:
        assert group.num_rows == 0
        assert_same_table(group.table(), expected.records)
        assert group.drops == {}
        assert group.dropped.equals(expected.dropped)
        assert group.batches(order="key").read_all().num_rows == 0


def test_one_batch_and_the_key_order() -> None:
    rows = pa.table(
        {"amperity_id": ["z", "m", "a", "b"], "email": ["z@x.com", "m@x.com", "a@x.com", None]}
    )
    with prepare_group(stream(rows, len(rows)), [EMAIL, EXTERNAL_ID], kind=API) as group:
        in_order = group.table()
        by_key = group.batches(order="key").read_all()
    assert in_order.column("amperity_id").to_pylist() == ["z", "m", "a"]
    assert by_key.equals(in_order.sort_by("amperity_id"))
    assert by_key.column("external_id").to_pylist() == ["a", "m", "z"]


def test_batches_can_be_read_again_and_cut_small() -> None:
    with prepare_group(stream(ROWS, 2), MAPPING, kind=API) as group:
        first = group.batches(batch_rows=1)
        sizes = [b.num_rows for b in first]
        again = group.table()
    assert sizes == [1, 1, 1]
    assert again.num_rows == 3


def test_the_key_column_can_be_named_otherwise_and_be_a_field() -> None:
    rows = pa.table({"customer": ["c2", "c1", "c3"], "email": ["x@y.com", "X@y.com", None]})
    mapping = [EMAIL, AttributeMapping("customer", "customer")]
    group = assert_same_as_in_memory(rows, mapping, 1, key="customer", kind=API)
    assert group.dropped.column_names == ["customer", "reason", "skipped"]


def test_values_keep_their_types() -> None:
    rows = pa.table(
        {
            "amperity_id": pa.array(["b", "a", "c"]),
            "email": ["b@x.com", "a@x.com", "c@x.com"],
            "revenue": pa.array([Decimal("1.50"), None, Decimal("3")], pa.decimal128(10, 2)),
            "born": pa.array([dt.date(1990, 1, 2), None, dt.date(2001, 3, 4)], pa.date32()),
            "seen": pa.array(
                [dt.datetime(2026, 6, 30, 8, 5), None, None], pa.timestamp("us", tz="UTC")
            ),
            "score": pa.array([1.25, float("nan"), None], pa.float64()),
            "orders": pa.array([3, None, 0], pa.int32()),
            "vip": pa.array([True, False, None]),
            "tags": pa.array([["a", "b"], [], None], pa.list_(pa.string())),
        }
    )
    mapping = [EMAIL] + [
        AttributeMapping(name, name)
        for name in ("revenue", "born", "seen", "score", "orders", "vip", "tags")
    ]
    assert_same_as_in_memory(rows, mapping, 2, kind=API)


def test_mapping_errors_are_raised_before_anything_is_read() -> None:
    def never() -> pa.RecordBatchReader:
        def batches():  # type: ignore[no-untyped-def]
            raise AssertionError("read")
            yield  # pragma: no cover

        return pa.RecordBatchReader.from_batches(ROWS.schema, batches())

    with pytest.raises(ValueError, match="'nope'"):
        prepare_group(never(), [AttributeMapping("nope", "email")], kind=API)
    with pytest.raises(ValueError, match="requires field 'email'"):
        prepare_group(never(), [AttributeMapping("email", "first_name")], kind=API)


def test_the_spill_folder_is_removed(tmp_path: Path) -> None:
    with prepare_group(stream(ROWS, 2), MAPPING, kind=API, spill_parent=tmp_path) as group:
        assert group.num_rows == 3
        assert len(list(tmp_path.iterdir())) == 1
    assert list(tmp_path.iterdir()) == []


_emails = st.sampled_from(
    ["a@x.com", "A@x.com ", "b@x.com", "bad@", "", None, "c@x.com", "c..d@x.com", "é@x.com"]
)
_keys = st.one_of(st.none(), st.sampled_from(["k1", "k2", "k3", "k10", "k9", "a", "b"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(_keys, _emails, st.sampled_from(["2065550100", "1", None])), max_size=25
    ),
    batch_rows=st.integers(1, 8),
    dedupe=st.sampled_from([None, True, False]),
)
def test_any_rows_in_any_batches(
    rows: list[tuple[str | None, str | None, str | None]], batch_rows: int, dedupe: bool | None
) -> None:
    table = pa.table(
        {
            "amperity_id": pa.array([r[0] for r in rows], pa.string()),
            "email": pa.array([r[1] for r in rows], pa.string()),
            "phone": pa.array([r[2] for r in rows], pa.string()),
        }
    )
    assert_same_as_in_memory(table, [EMAIL, PHONE], batch_rows, kind=API, dedupe=dedupe)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(_keys, _emails), max_size=25),
    taken=st.lists(st.sampled_from(["k1", "k2", "k3", "k10", "a", "zz"]), max_size=4),
    batch_rows=st.integers(1, 8),
    kind=st.sampled_from([API, CSV]),
)
def test_taken_customers_in_any_batches(
    rows: list[tuple[str | None, str | None]], taken: list[str], batch_rows: int, kind: object
) -> None:
    table = pa.table(
        {
            "amperity_id": pa.array([r[0] for r in rows], pa.string()),
            "email": pa.array([r[1] for r in rows], pa.string()),
        }
    )
    assert_same_as_in_memory(table, [EMAIL], batch_rows, taken=list(taken), kind=kind)


def test_taken_customers_with_integer_keys() -> None:
    rows = pa.table({"amperity_id": [3, 1, 2, 4], "email": ["a@x.com", "A@x.com", "b@", "c@x.com"]})
    group = assert_same_as_in_memory(rows, [EMAIL], 2, taken=[1, 2, 4], kind=API)
    assert group.drops == {"duplicate_email_in_campaign": 2, "invalid_email": 1}
    assert group.num_rows == 1  # 3: 1 is taken, so 3 keeps a@x.com
