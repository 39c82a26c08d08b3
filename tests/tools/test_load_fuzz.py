"""Property-based tests of the loaders (hypothesis): whatever the file looks like, the
loader either raises one DataError or returns a report where rows read = accepted +
rejected; it never crashes and never loses a row."""

from __future__ import annotations

import csv
import io
import os

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools.errors import DataError
from tools.ingest.load import load_orders

HEADERS = {
    "customer_id": ["customer_id", "CustomerID", "Customer ID", "client_id"],
    "order_id": ["order_id", "InvoiceNo", "Order Number", "Name"],
    "order_date": ["order_date", "InvoiceDate", "Created at", "Date"],
    "amount": ["amount", "Total", "Revenue", "Sales"],
}

dates = st.one_of(
    st.dates(
        min_value=pd.Timestamp("2015-01-01").date(), max_value=pd.Timestamp("2026-01-01").date()
    ).map(lambda d: d.isoformat()),
    st.datetimes(
        min_value=pd.Timestamp("2015-01-01").to_pydatetime(),
        max_value=pd.Timestamp("2026-01-01").to_pydatetime(),
    ).map(lambda d: d.strftime("%d/%m/%Y %H:%M")),
    st.sampled_from(
        [
            "2024-03-01T10:00:00Z",
            "2024-03-01 10:00:00 -0500",
            "2024-03-01T10:00:00+01:00",
            "not a date",
            "",
            "31/02/2024",
        ]
    ),
)
amounts = st.one_of(
    st.floats(min_value=-500, max_value=5000, allow_nan=False).map(lambda x: f"{x:.2f}"),
    st.floats(min_value=1000, max_value=99999, allow_nan=False).map(
        lambda x: f"{x:,.2f}"
    ),  # 1,234.50
    st.floats(min_value=0, max_value=999, allow_nan=False).map(
        lambda x: f"{x:.2f}".replace(".", ",")
    ),
    st.sampled_from(["£12.50", "$7", "(3.00)", "abc", "", "1e3", "NaN", "inf"]),
)
ids = st.one_of(
    st.text(alphabet="ABCDEFXYZ0123456789", min_size=1, max_size=6),
    st.sampled_from(["", " ", "17850.0", "Zoë", "Ünïcode"]),
)
rows = st.lists(st.tuples(ids, ids, dates, amounts), min_size=1, max_size=25)


@st.composite
def order_files(draw):
    names = {k: draw(st.sampled_from(v)) for k, v in HEADERS.items()}
    order = draw(st.permutations(list(HEADERS)))
    extra = draw(st.sampled_from([[], ["Country"], ["Amount"]]))  # "Amount" may duplicate a header
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]))
    data = draw(rows)
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow([names[k] for k in order] + extra)
    for cid, oid, d, a in data:
        rec = {"customer_id": cid, "order_id": oid, "order_date": d, "amount": a}
        w.writerow([rec[k] for k in order] + ["x"] * len(extra))
    text = buf.getvalue()
    if draw(st.booleans()):  # truncate the last line somewhere
        text = text[: len(text) - draw(st.integers(min_value=1, max_value=8))]
    return text.encode(encoding, errors="replace"), len(data)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order_files())
def test_any_orders_file_balances_or_fails_cleanly(tmp_path, payload):
    raw, _ = payload
    path = tmp_path / "orders.csv"
    path.write_bytes(raw)
    try:
        orders, rep = load_orders(path, rejects_dir=tmp_path / "rejects")
    except DataError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    assert rep.rows_read == rep.rows_accepted + rep.rows_rejected
    assert len(orders) >= rep.rows_accepted or rep.rows_accepted == orders["order_id"].size
    assert orders["amount"].notna().all() and orders["order_date"].notna().all()
    assert (orders["customer_id"] != "").all()
    if rep.rows_rejected:
        rejects = pd.read_csv(rep.rejects_path, dtype=str, keep_default_na=False)
        assert len(rejects) == rep.rows_rejected and rejects["reason"].str.len().gt(0).all()


def test_zero_byte_file(tmp_path):
    (tmp_path / "orders.csv").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_orders(tmp_path / "orders.csv")


def test_two_gigabyte_file_is_refused_by_size_without_reading_it(tmp_path):
    path = tmp_path / "orders.csv"
    with path.open("wb") as fh:  # a sparse file: 2 GiB on paper, nothing on disk
        fh.write(b"customer_id,order_id,order_date,amount\n")
        fh.seek(2 * 1024**3)
        fh.write(b"\n")
    assert os.path.getsize(path) > 2 * 1024**3
    with pytest.raises(DataError) as exc:
        load_orders(path)
    assert "GiB" in str(exc.value) and "limit" in str(exc.value) and "Parquet" in str(exc.value)
