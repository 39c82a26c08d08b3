"""The synthetic demo store: determinism, shape, planted causes and their signals, campaigns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tools import schema
from tools.demo import generate_store, simulate_campaign_response
from tools.demo.params import CAUSES

N = 2000
END = pd.Timestamp("2026-10-31")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "store"
    counts = generate_store(path, customers=N, seed=11)
    return path, counts


@pytest.fixture(scope="module")
def tables(store):
    path, _ = store
    read = lambda name: pd.read_csv(path / name, keep_default_na=False, na_values=[""])
    t = {
        name: read(f"{name}.csv")
        for name in ("orders", "customers", "products", "events", "tickets")
    }
    t["truth"] = pd.read_csv(
        path / "ground_truth.csv",
        keep_default_na=False,
        dtype={"planted_cause": str, "cause_date": str, "died_at": str},
    )
    t["orders"]["order_date"] = pd.to_datetime(t["orders"]["order_date"])
    t["events"]["timestamp"] = pd.to_datetime(t["events"]["timestamp"])
    for col in ("opened_at", "resolved_at"):
        t["tickets"][col] = pd.to_datetime(t["tickets"][col])
    t["truth"]["cause_ts"] = pd.to_datetime(t["truth"]["cause_date"].replace("", None))
    return t


def _cause_ids(tables, cause: str) -> set[str]:
    truth = tables["truth"]
    return set(truth.loc[truth["planted_cause"] == cause, "customer_id"])


def test_same_seed_same_bytes_and_different_seed_differs(tmp_path):
    a = generate_store(tmp_path / "a", customers=300, seed=5)
    b = generate_store(tmp_path / "b", customers=300, seed=5)
    assert a == b
    for f in sorted((tmp_path / "a").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name
    generate_store(tmp_path / "c", customers=300, seed=6)
    assert (tmp_path / "a" / "orders.csv").read_bytes() != (
        tmp_path / "c" / "orders.csv"
    ).read_bytes()


def test_row_counts_and_columns(store, tables):
    path, counts = store
    assert counts["customers"] == N == len(tables["customers"]) == len(tables["truth"])
    assert counts["order_lines"] == len(tables["orders"])
    assert counts["events"] == len(tables["events"]) and counts["tickets"] == len(tables["tickets"])
    assert counts["products"] == len(tables["products"]) == 200
    assert tables["products"]["category"].nunique() == 8
    sales = tables["orders"][tables["orders"]["amount"] >= 0]
    assert counts["orders"] == sales["order_id"].nunique()
    assert 1.3 < len(sales) / counts["orders"] < 1.8  # 1-4 lines, mean ~1.5
    assert set(tables["orders"].columns) <= set(schema.ORDERS_REQUIRED + schema.ORDERS_OPTIONAL)
    assert tuple(tables["customers"].columns) == schema.CUSTOMERS_COLUMNS
    assert tuple(tables["products"].columns) == schema.PRODUCTS_COLUMNS
    assert tuple(tables["events"].columns) == schema.EVENTS_COLUMNS
    assert tuple(tables["tickets"].columns) == schema.TICKETS_COLUMNS
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["seed"] == 11 and manifest["customers"] == N
    assert manifest["planted_causes"] == {c: len(_cause_ids(tables, c)) for c in CAUSES}


def test_amounts_dates_and_returns(tables):
    o = tables["orders"]
    assert o["order_date"].max() < END + pd.Timedelta(days=1)
    assert (tables["events"]["timestamp"] < END + pd.Timedelta(days=1)).all()
    sales, rets = o[~o["order_id"].str.startswith("R")], o[o["order_id"].str.startswith("R")]
    assert (sales["amount"] >= 0).all() and (sales["discount"] >= 0).all()
    assert (rets["amount"] < 0).all() and len(rets) > 0
    assert 0.02 < len(rets) / len(sales) < 0.08
    # every return line points at a line of the original order with the same product
    orig = rets.assign(order_id="O" + rets["order_id"].str[1:]).merge(
        sales, on=["order_id", "product_id"], suffixes=("_r", "_s")
    )
    assert len(orig) == len(rets)
    assert (orig["order_date_r"] > orig["order_date_s"]).all()
    assert np.allclose(-orig["amount_r"], orig["amount_s"])
    assert sales.groupby("order_id")["product_id"].apply(lambda s: s.is_unique).all()
    disc_share = (sales.groupby("order_id")["discount"].sum() > 0).mean()
    assert 0.2 < disc_share < 0.4


def test_consent_and_heterogeneity(tables):
    c, truth = tables["customers"], tables["truth"]
    assert 0.6 < c["accepts_email"].mean() < 0.85
    assert 0.25 < c["accepts_sms"].mean() < 0.45
    assert c["email"].is_unique and c["customer_id"].is_unique
    assert (c["note"].notna() & (c["note"] != "")).mean() < 0.1
    rate = truth["purchase_rate_per_day"]
    assert rate.std() / rate.mean() > 0.5
    assert 60 < 1 / rate.mean() < 120  # mean inter-purchase gap in days
    per_cust = tables["orders"].groupby("customer_id")["order_id"].nunique()
    assert per_cust.max() >= 8 and (per_cust == 1).any()
    natural = truth[(truth["planted_cause"] == "") & truth["died"]]
    assert len(natural) > 0.2 * N  # BG/NBD dropouts, without a planted cause


def test_planted_causes_share_and_no_orders_after_cause(tables):
    truth, o = tables["truth"], tables["orders"]
    repeat = (o[o["amount"] >= 0].groupby("customer_id")["order_id"].nunique() >= 2).sum()
    planted = truth[truth["planted_cause"] != ""]
    assert 0.12 <= len(planted) / repeat <= 0.15
    assert set(planted["planted_cause"]) == set(CAUSES)
    lead = (END - planted["cause_ts"]).dt.days
    assert lead.between(85, 275).all()
    last = o.groupby("customer_id")["order_date"].max()
    assert (last.reindex(planted["customer_id"]).to_numpy() < planted["cause_ts"].to_numpy()).all()
    assert planted["died"].all()


def test_price_sensitive_customers_live_on_discounts(tables):
    o = tables["orders"]
    sales = o[o["amount"] >= 0]
    share = (
        (sales.groupby(["customer_id", "order_id"])["discount"].sum() > 0)
        .groupby("customer_id")
        .mean()
    )
    ids = _cause_ids(tables, "price_sensitivity")
    mine, others = share[share.index.isin(ids)], share[~share.index.isin(ids)]
    assert mine.mean() > 0.85 and others.mean() < 0.35
    assert (mine >= 0.5).mean() > 0.95


def test_service_customers_have_unresolved_high_severity_ticket(tables):
    tk, truth = tables["tickets"], tables["truth"].set_index("customer_id")
    bad = tk[(tk["severity"] == "high") & tk["resolved_at"].isna() & (tk["sentiment"] < -0.5)]
    ids = _cause_ids(tables, "service_problems")
    assert ids <= set(bad["customer_id"])
    mine = bad[bad["customer_id"].isin(ids)]
    gap = truth.loc[mine["customer_id"], "cause_ts"].to_numpy() - mine["opened_at"].to_numpy()
    assert (gap > pd.Timedelta(0)).all() and (gap < pd.Timedelta(days=15)).all()
    others = set(bad["customer_id"]) - ids
    assert len(others) < 0.02 * N  # noise exists but is rare


def test_quality_customers_return_their_last_orders(tables):
    o = tables["orders"]
    rets = o[o["amount"] < 0].groupby("customer_id").size()
    ids = _cause_ids(tables, "quality_returns")
    mine = rets.reindex(sorted(ids)).fillna(0)
    assert (mine >= 1).all() and mine.mean() >= 2
    assert rets[~rets.index.isin(ids)].sum() / (N - len(ids)) < 0.3
    quality = tables["tickets"]["text"].str.contains("quality|fell apart|faulty", case=False)
    assert tables["tickets"].loc[quality, "customer_id"].isin(ids).all()
    assert tables["tickets"].loc[quality, "customer_id"].nunique() > 0.4 * len(ids)


def test_fading_customers_go_quiet_before_cause(tables):
    ev, truth = tables["events"], tables["truth"]
    fading = truth[truth["planted_cause"] == "fading_engagement"][["customer_id", "cause_ts"]]
    e = ev.merge(fading, on="customer_id")
    days_before = (e["cause_ts"] - e["timestamp"]).dt.days
    assert (days_before >= 0).all()  # nothing after the cause date
    created = pd.to_datetime(tables["customers"].set_index("customer_id")["created_at"])
    exposure = (
        (fading["cause_ts"] - pd.Timedelta(days=180)).to_numpy()
        - created.reindex(fading["customer_id"]).to_numpy()
    ) / pd.Timedelta(days=1)
    early_rate = (days_before >= 180).sum() / np.clip(exposure, 0, None).sum()  # events per day
    late_rate = (days_before < 45).sum() / (45 * len(fading))
    assert late_rate < 0.4 * early_rate
    others = truth[truth["planted_cause"].isin(["price_sensitivity", "service_problems"])]
    o = ev.merge(others[["customer_id", "cause_ts"]], on="customer_id")
    before = (o["cause_ts"] - o["timestamp"]).dt.days
    assert (before.between(0, 44)).sum() > 0.5 * ((before >= 180) & (before < 360)).sum() / 4


def test_parquet_format_writes_parquet_tables(tmp_path):
    counts = generate_store(tmp_path / "p", customers=300, seed=5, fmt="parquet")
    names = {p.name for p in (tmp_path / "p").iterdir()}
    assert {"orders.parquet", "events.parquet", "customers.csv", "tickets.csv"} <= names
    assert "orders.csv" not in names and "events.csv" not in names
    orders = pd.read_parquet(tmp_path / "p" / "orders.parquet")
    assert len(orders) == counts["order_lines"]
    generate_store(tmp_path / "c", customers=300, seed=5)
    csv = pd.read_csv(tmp_path / "c" / "orders.csv")
    assert np.allclose(csv["amount"], orders["amount"])


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="fmt"):
        generate_store("/nonexistent/x", customers=10, fmt="xlsx")
    with pytest.raises(ValueError, match="customers"):
        generate_store("/nonexistent/x", customers=0)


def test_campaign_recovers_the_true_uplift(tmp_path):
    path = tmp_path / "big"
    generate_store(path, customers=20_000, seed=3)
    ids = pd.read_csv(path / "customers.csv")["customer_id"].to_numpy()
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(ids)
    treated, control = shuffled[:10_000], shuffled[10_000:]
    resp = simulate_campaign_response(
        path, treated, control, start_date="2026-11-01", weeks=8, true_uplift=0.10, seed=1
    )
    assert (pd.to_datetime(resp["order_date"]) >= pd.Timestamp("2026-11-01")).all()
    assert (pd.to_datetime(resp["order_date"]) < pd.Timestamp("2026-12-27")).all()
    bought = set(resp["customer_id"])
    rate_t = np.mean([c in bought for c in treated])
    rate_c = np.mean([c in bought for c in control])
    assert rate_t - rate_c == pytest.approx(0.10, abs=0.025)
    assert (
        not resp["order_id"].duplicated().any()
        or resp.groupby("order_id")["customer_id"].nunique().max() == 1
    )
    n_before = len(pd.read_csv(path / "orders.csv"))
    again = simulate_campaign_response(
        path, treated, control, start_date="2026-11-01", seed=1, append=True
    )
    assert again.equals(resp)
    after = pd.read_csv(path / "orders.csv")
    assert len(after) == n_before + len(resp)
    assert not set(resp["order_id"]) & set(after["order_id"].iloc[:n_before])


def test_companions_and_preferred_categories_give_a_next_product_signal(store, tables):
    path, _ = store
    companion = json.loads((path / "manifest.json").read_text())["companion_of"]
    sales = tables["orders"][tables["orders"]["amount"] >= 0]
    baskets = sales.groupby("order_id")["product_id"].apply(set)
    baskets = baskets[baskets.str.len() >= 2]
    paired = baskets.apply(lambda b: any(companion[p] in b for p in b)).mean()
    assert paired > 0.3  # chance is ~1% with 200 products
    cat = tables["products"].set_index("product_id")["category"]
    pref = tables["truth"].set_index("customer_id")["preferred_category"]
    in_pref = (
        sales["product_id"].map(cat).to_numpy() == sales["customer_id"].map(pref).to_numpy()
    ).mean()
    assert in_pref > 0.5
