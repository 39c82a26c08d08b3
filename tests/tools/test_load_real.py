"""The loader on real stores' own files (../shared/data): each test is a failure a real
export showed, checked on that export. Expected figures are computed here from the raw
file with pandas, independently of the loader."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.builders import SHARED_DATA
from tools.errors import DataError
from tools.ingest.load import load_orders, load_store, store_summary

SHARED = SHARED_DATA
SHOPIFY = SHARED / "shopify"

pytestmark = pytest.mark.skipif(not SHOPIFY.exists(), reason=f"shared data not at {SHARED}")


def raw(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def orders_report(store):
    return [r for r in store.reports if r.kind == "orders"]


def first_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["Financial Status"] != ""]


def money(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.replace("", "0"))


def test_apparel_store_loads_with_its_customers_export(tmp_path):
    """The customers export has no id column (Email is its key); a refunded order without an
    email no longer stops the loader; every row is accepted or rejected once."""
    store = load_store(SHOPIFY / "apparel_usd", rejects_dir=tmp_path)
    for rep in store.reports:
        assert rep.rows_read == rep.rows_accepted + rep.rows_rejected
    (rep,) = orders_report(store)
    assert rep.rows_read == 811
    assert len(store.customers) == 1511
    # orders and the customers export join on the email
    bought = set(store.orders["customer_id"])
    assert bought <= set(store.customers["customer_id"])
    # names from the customers export or Billing Name: every buyer has a first name
    buyers = store.customers[store.customers["customer_id"].isin(bought)]
    assert (buyers["first_name"] != "").all()
    # consent: the export says yes for most of them
    assert buyers["accepts_email"].sum() > len(buyers) / 2


def test_revenue_is_what_the_file_says_net_of_refunds_to_the_cent(tmp_path):
    """Total of the orders used, minus their Refunded Amount; cancelled, voided and fully
    refunded orders are not purchases; identical line items of one order both count."""
    for name in ("apparel_usd", "small_usd", "cosmetics_eur", "fashion_pkr"):
        f = first_rows(raw(SHOPIFY / name / "orders_export_1.csv"))
        store = load_store(SHOPIFY / name, rejects_dir=tmp_path / name)
        rejected = (
            pd.read_csv(orders_report(store)[0].rejects_path, dtype=str, keep_default_na=False)
            if orders_report(store)[0].rows_rejected
            else None
        )
        dropped = set(rejected["Name"]) if rejected is not None else set()
        used = f[~f["Name"].isin(dropped)]
        expected = (money(used["Total"]) - money(used["Refunded Amount"])).sum()
        assert store.orders["amount"].sum() == pytest.approx(expected, abs=0.005), name
        assert store.currency == f["Currency"].iloc[0]
        # a fully refunded order is not a purchase occasion: its lines and refund stay
        full = set(used[used["Financial Status"] == "refunded"]["Name"])  # not also cancelled
        o = store.orders
        assert set(o.loc[o["returned_in_full"], "order_id"]) == full, name
        assert store_summary(store)["orders"] == o.loc[
            o["amount"] >= 0, "order_id"
        ].nunique() - len(full)


def test_rejected_rows_are_written_as_they_stood_in_the_file(tmp_path):
    path = SHOPIFY / "apparel_usd" / "orders_export_1.csv"
    store = load_store(path.parent, rejects_dir=tmp_path)
    (rep,) = orders_report(store)
    rejects = pd.read_csv(rep.rejects_path, dtype=str, keep_default_na=False)
    assert len(rejects) == rep.rows_rejected > 0
    original = raw(path)
    for _, row in rejects.head(20).iterrows():
        line = int(row["line"])
        as_read = original.iloc[line - 2]
        assert row[original.columns].tolist() == as_read.tolist(), line
        assert row["reason"]


def test_a_store_known_by_phone_keeps_its_orders_and_counts_overlaps_once(tmp_path):
    """17 overlapping exports, almost no emails: phone is the key; an order (Shopify's Id) in
    several exports counts once; Billing Name gives the first name."""
    folder = SHOPIFY / "repeat_exports_bdt"
    frames = [first_rows(raw(p)).assign(_file=p.name) for p in sorted(folder.glob("*.csv"))]
    f = pd.concat(frames)
    live = f[(f["Cancelled at"] == "") & (f["Financial Status"] != "voided")]
    store = load_store(folder, rejects_dir=tmp_path)
    for rep in orders_report(store):
        assert rep.rows_read == rep.rows_accepted + rep.rows_rejected
    summary = store_summary(store)
    # the overlapping copies are not extra orders; (nearly) every live order is kept
    assert summary["orders"] <= live["Id"].nunique()
    assert summary["orders"] >= 0.95 * live["Id"].nunique()
    reasons = {k for rep in orders_report(store) for k in rep.reasons}
    assert any("newer export" in k for k in reasons)
    c = store.customers.set_index("customer_id").loc[sorted(set(store.orders["customer_id"]))]
    assert (c["first_name"] != "").mean() > 0.95
    assert c["accepts_email"].notna().all()  # Accepts Marketing on the orders
    assert store.currency == "BDT"


def test_an_export_without_contacts_or_prices_is_refused_with_what_to_do():
    with pytest.raises(DataError) as err:
        load_store(SHOPIFY / "wholesale_cad")
    msg = str(err.value)
    assert (
        "orders_export_1.csv" in msg
        and "Email or Phone" in msg
        and "Export the orders again" in msg
    )


@pytest.fixture(scope="module")
def online_retail() -> pd.DataFrame:
    path = SHARED / "online_retail_lines.parquet"
    if not path.exists():
        pytest.skip("full Online Retail not in shared data")
    return pd.read_parquet(path)


def test_online_retail_lines_keep_identical_lines_and_revenue(tmp_path, online_retail):
    store_dir = tmp_path / "or"
    store_dir.mkdir()
    shutil.copy(SHARED / "online_retail_lines.parquet", store_dir / "orders.parquet")
    store = load_store(store_dir, rejects_dir=tmp_path / "rj")
    (rep,) = orders_report(store)
    d = online_retail
    known = d[d["CustomerID"].notna() & (d["CustomerID"].astype(str).str.strip() != "")]
    assert rep.rows_read == len(d) and rep.rows_accepted == len(known)  # duplicate lines kept
    assert rep.reasons == {"customer_id is blank": len(d) - len(known)}
    assert store.orders["amount"].sum() == pytest.approx(
        (known["Quantity"] * known["UnitPrice"]).sum(), abs=0.01
    )
    assert store.orders["customer_id"].nunique() == known["CustomerID"].nunique() == 4372


def test_invoice_level_file_placeholder_ids_and_split_invoices(tmp_path, online_retail):
    """The invoice-level file a merchant makes from Online Retail: missing customers written
    as 'nan' are a placeholder, not the store's top customer; an invoice whose lines carry two
    timestamps is one order, summed."""
    d = online_retail.assign(
        amount=online_retail["Quantity"] * online_retail["UnitPrice"],
        CustomerID=online_retail["CustomerID"].astype(str).replace("<NA>", "nan"),
    )
    inv = d.groupby(["InvoiceNo", "InvoiceDate", "CustomerID"], as_index=False)["amount"].sum()
    split = inv[inv["InvoiceNo"].duplicated(keep=False) & (inv["CustomerID"] != "nan")]
    assert len(split) > 0  # the real file has such invoices
    path = tmp_path / "orders.csv"
    inv.to_csv(path, index=False)
    orders, rep = load_orders(path, rejects_dir=tmp_path)
    assert rep.rows_read == rep.rows_accepted + rep.rows_rejected
    assert "nan" not in set(orders["customer_id"])
    assert any("placeholder" in k for k in rep.reasons)
    assert not any("duplicate" in k for k in rep.reasons)
    one = split["InvoiceNo"].iloc[0]
    got = orders[orders["order_id"] == one]
    assert got["order_date"].nunique() == 1
    assert got["amount"].sum() == pytest.approx(
        split.loc[split["InvoiceNo"] == one, "amount"].sum()
    )


def test_amounts_that_cannot_be_a_purchase_are_rejected_with_the_reason(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "customer_id,order_id,order_date,amount\nc1,o1,2025-01-01,10\n"
        "c2,o2,2025-01-02,1e308\nc3,o3,2025-01-03,inf\nguest,o4,2025-01-04,5\n"
    )
    orders, rep = load_orders(path, rejects_dir=tmp_path)
    assert list(orders["customer_id"]) == ["c1"] and np.isfinite(orders["amount"]).all()
    assert rep.rows_rejected == 3
    assert any("plausible" in k for k in rep.reasons) and any(
        "placeholder" in k for k in rep.reasons
    )


def test_an_order_returned_in_full_is_not_a_purchase(tmp_path, online_retail):
    """Online Retail's customer 16446 bought 80,995 units and the invoice was cancelled the
    same day (C581484): neither invoice is a purchase occasion, revenue is unchanged, and
    partial returns stay returns."""
    store_dir = tmp_path / "or"
    store_dir.mkdir()
    shutil.copy(SHARED / "online_retail_lines.parquet", store_dir / "orders.parquet")
    store = load_store(store_dir)
    o = store.orders
    full = o[o["returned_in_full"]]
    assert "581483" in set(full["order_id"])
    assert not o.loc[
        o["order_id"].isin(["C581484"]), "returned_in_full"
    ].any()  # the return stays one
    from tools.models.rfm import rfm_summary

    rfm = rfm_summary(o, as_of="2011-12-09").set_index("customer_id")
    assert (
        rfm.loc["16446", "orders_to_date"] == 1
    )  # the small order of 2011-05, not the 80,995 units
    d = online_retail[online_retail["CustomerID"].notna()]
    assert o["amount"].sum() == pytest.approx((d["Quantity"] * d["UnitPrice"]).sum(), abs=0.01)
    assert (o["amount"] < 0).sum() > 8000  # every return is still there
