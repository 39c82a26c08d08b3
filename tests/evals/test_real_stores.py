"""The real-store evaluation's fast part (`python -m evals.quality.real_stores --quick`, issue 13):
each store in ../shared/data (the full Online Retail file and CDNOW aside) through load,
summary, score, one chat turn and the campaign plan, with every invariant checked. One test
per store, so a failure names the store and lists what failed."""

from __future__ import annotations

import pandas as pd
import pytest

from evals.quality.real_stores.accounting import account
from evals.quality.real_stores.expected import expected_shopify
from evals.quality.real_stores.results import StoreResult
from evals.quality.real_stores.store_eval import run_stores
from evals.quality.real_stores.stores import CHECKS, discover, find_data_dir

DATA = find_data_dir()
QUICK = [s.name for s in discover(DATA) if s.quick] if DATA else []


@pytest.fixture(scope="module")
def quick_results() -> dict[str, StoreResult]:
    """Every quick store evaluated once (the first test pays for all of them)."""
    return {r.name: r for r in run_stores(QUICK, quick=True, progress=lambda _: None)}


@pytest.mark.skipif(not QUICK, reason="the shared real-store data (../shared/data) is not here")
@pytest.mark.parametrize("store", QUICK or ["none"])
def test_real_store_passes_every_invariant(quick_results, store):
    result = quick_results[store]
    if result.failures():
        pytest.fail(result.explain(), pytrace=False)
    assert set(result.checks) == set(CHECKS)


def test_quick_covers_every_shared_store():
    """Each Shopify folder and the Online Retail sample are in the quick part."""
    if DATA is None:
        pytest.skip("the shared real-store data (../shared/data) is not here")
    folders = sorted(p.name for p in (DATA / "shopify").iterdir() if p.is_dir())
    assert set(folders) <= set(QUICK)
    assert "online_retail_sample" in QUICK


# --- the eval's own reading of a Shopify export (what "the file says") ------------------------

HEADER = (
    "Name,Email,Financial Status,Currency,Subtotal,Shipping,Taxes,Total,Created at,Lineitem quantity,"
    "Lineitem name,Lineitem price,Lineitem sku,Cancelled at,Refunded Amount,Phone,Id\n"
)


def test_expected_shopify_counts_each_order_once_net_of_refunds(tmp_path):
    """Total less Refunded Amount (a full refund of 95 + 10 shipping nets to 0; the
    merchandise figure caps the refund at the Subtotal); cancelled and voided orders out; the
    same Id in two exports once; one Name for two different Ids twice; an order with only a
    phone has a customer."""
    a = (
        HEADER
        + "#1,a@x.com,paid,USD,60.00,5,0,65.00,2024-01-01 10:00:00 +0000,1,Shirt,40.00,S1,,0.00,,101\n"
        + "#1,a@x.com,,,,,,,2024-01-01 10:00:00 +0000,1,Hat,20.00,H1,,,,\n"
        + "#2,b@x.com,refunded,USD,95.00,10,0,105.00,2024-01-02 10:00:00 +0000,1,Shirt,95.00,S1,,105.00,,102\n"
        + "#3,c@x.com,paid,USD,50.00,0,0,50.00,2024-01-03 10:00:00 +0000,1,Hat,50.00,H1,2024-01-04,0.00,,103\n"
        + "#4,,partially_refunded,USD,80.00,0,0,80.00,2024-01-05 10:00:00 +0000,2,Hat,40.00,H1,,30.00,+1555,104\n"
    )
    b = (
        HEADER
        + "#4,,partially_refunded,USD,80.00,0,0,80.00,2024-01-05 10:00:00 +0000,2,Hat,40.00,H1,,30.00,+1555,104\n"
        + "#1,d@x.com,voided,USD,70.00,0,0,70.00,2024-02-01 10:00:00 +0000,1,Hat,70.00,H1,,0.00,,201\n"
        + "#5,,paid,USD,10.00,0,0,10.00,2024-02-02 10:00:00 +0000,1,Hat,10.00,H1,,0.00,,202\n"
    )
    (tmp_path / "orders_export_1.csv").write_text(a)
    (tmp_path / "orders_export_2.csv").write_text(b)
    exp = expected_shopify(tmp_path)
    assert exp.rows == {"orders_export_1.csv": 5, "orders_export_2.csv": 3}
    assert exp.file_total == pytest.approx(65 + 0 + 50 + 10)  # #1, #2 refunded, #4, #5
    assert exp.customer_revenue == pytest.approx(65 + 0 + 50)  # #5 has no email or phone
    assert exp.merchandise_revenue == pytest.approx(60 + 0 + 50)
    assert exp.copies == 1 and exp.currencies == ("USD",)
    assert {"shirt", "hat"} == set(exp.names) and {"s1", "h1"} == set(exp.codes)
    assert exp.unusable is None
    lines = exp.lines.set_index(["file", "line"])
    assert lines.loc[("orders_export_1.csv", 2), "amount"] == pytest.approx(65 * 2 / 3)  # its share
    assert lines.loc[("orders_export_1.csv", 3), "amount"] == pytest.approx(65 / 3)


def test_accounting_finds_rejected_revenue_by_reason(tmp_path):
    (tmp_path / "orders_export_1.csv").write_text(
        HEADER
        + "#1,a@x.com,paid,USD,60.00,0,0,60.00,2024-01-01 10:00:00 +0000,1,Shirt,40.00,S1,,0.00,,1\n"
        + "#1,a@x.com,,,,,,,,1,Hat,20.00,H1,,,,\n"
        + "#2,,paid,USD,30.00,0,0,30.00,2024-01-02 10:00:00 +0000,1,Hat,30.00,H1,,0.00,,2\n"
    )
    exp = expected_shopify(tmp_path)
    rejects = {
        "orders_export_1.csv": pd.DataFrame(
            {
                "line": ["3", "4"],
                "reason": ["duplicate line", "customer_id is blank"],
                "Name": ["#1", "#2"],
            }
        )
    }
    acc = account(exp, rejects)
    assert acc.by_reason == {
        "duplicate line": (1, pytest.approx(20.0)),
        "customer_id is blank": (1, pytest.approx(30.0)),
    }
    assert acc.rejected_revenue == pytest.approx(50.0) and not acc.unmatched
    assert acc.no_customer == {"customer_id is blank"}


def test_a_file_without_amounts_or_customers_is_unusable(tmp_path):
    (tmp_path / "orders_export_1.csv").write_text(
        "Name,Financial Status,Currency,Created at,Lineitem quantity,Lineitem name\n"
        "#1,paid,CAD,31/12/2023 22:36,1,Shoe\n"
    )
    exp = expected_shopify(tmp_path)
    assert "no amount column" in exp.unusable and "no customer column" in exp.unusable
