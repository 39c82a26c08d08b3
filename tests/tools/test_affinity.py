"""Bought-together rules and next best product: a hand-computed store and Online Retail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tools.errors import DataError
from tools.ingest.load import load_orders
from tools.insights.affinity import (
    AFFINITY_COLUMNS,
    BEST_SELLER,
    NO_PRODUCTS,
    NOTHING_LEFT,
    next_best_product,
    product_affinity,
)

NAMES = {"A": "Apron", "B": "Basket", "C": "Candle", "D": "Doormat"}


def _lines(rows):
    """rows: (customer, order, date, product, amount)."""
    o = pd.DataFrame(
        rows, columns=["customer_id", "order_id", "order_date", "product_id", "amount"]
    )
    return o.assign(
        order_date=pd.to_datetime(o["order_date"]), product_name=o["product_id"].map(NAMES)
    )


def _four_orders():
    """O1 {A,B}, O2 {A,B,C}, O3 {A,C}, O4 {B}; a refund of C in O4 does not put C in it."""
    return _lines(
        [
            ("c1", "O1", "2024-01-01", "A", 10.0),
            ("c1", "O1", "2024-01-01", "B", 5.0),
            ("c2", "O2", "2024-01-02", "A", 10.0),
            ("c2", "O2", "2024-01-02", "B", 5.0),
            ("c2", "O2", "2024-01-02", "C", 8.0),
            ("c2", "O2", "2024-01-02", "C", 8.0),  # twice: counted once
            ("c3", "O3", "2024-01-03", "A", 10.0),
            ("c3", "O3", "2024-01-03", "C", 8.0),
            ("c4", "O4", "2024-01-04", "B", 5.0),
            ("c4", "O4", "2024-01-05", "C", -8.0),
        ]
    )


def test_product_affinity_by_hand():
    o = _four_orders()
    before = o.copy()
    rules = product_affinity(o, min_support=0.0, min_orders=1)
    pd.testing.assert_frame_equal(o, before)
    assert tuple(rules.columns) == AFFINITY_COLUMNS
    r = rules.set_index(["product_a", "product_b"])
    # N = 4 orders; n_A = 3, n_B = 3, n_C = 2; n_AB = 2, n_AC = 2, n_BC = 1
    assert r.loc[("A", "B"), "n_orders_together"] == 2
    assert r.loc[("A", "B"), "support"] == pytest.approx(2 / 4)
    assert r.loc[("A", "B"), "confidence"] == pytest.approx(2 / 3)
    assert r.loc[("A", "B"), "lift"] == pytest.approx(2 * 4 / (3 * 3))
    assert r.loc[("A", "C"), "confidence"] == pytest.approx(2 / 3)
    assert r.loc[("C", "A"), "confidence"] == pytest.approx(1.0)
    assert r.loc[("A", "C"), "lift"] == pytest.approx(2 * 4 / (3 * 2))
    assert r.loc[("C", "A"), "lift"] == pytest.approx(r.loc[("A", "C"), "lift"])
    assert r.loc[("B", "C"), "lift"] == pytest.approx(1 * 4 / (3 * 2))
    assert len(rules) == 6  # three pairs, both directions
    assert rules["lift"].is_monotonic_decreasing
    # thresholds: a pair seen once goes; max_pairs keeps the strongest
    assert len(product_affinity(o, min_support=0.0, min_orders=2)) == 4
    assert len(product_affinity(o, min_support=0.6, min_orders=1)) == 0
    top = product_affinity(o, min_support=0.0, min_orders=1, max_pairs=2)
    assert set(top["product_a"] + top["product_b"]) == {"AC", "CA"}


def test_product_affinity_edge_cases():
    o = _four_orders()
    with pytest.raises(DataError, match="product_id"):
        product_affinity(o.drop(columns="product_id"))
    empty = product_affinity(o[o["amount"] < 0])
    assert tuple(empty.columns) == AFFINITY_COLUMNS and empty.empty
    one = product_affinity(o.assign(product_id="A"))
    assert one.empty


def _shop():
    """c1 {A,B}, c2 {A,B,C}, c3 {A,C}, c4 {B}, c5: only a refund of C, c6 {D} much later."""
    o = _four_orders()
    extra = _lines([("c5", "O5", "2024-01-06", "C", -8.0), ("c6", "O6", "2024-03-01", "D", 3.0)])
    return pd.concat([o, extra], ignore_index=True)


def test_next_best_product_uses_affinity_excludes_owned_and_falls_back():
    o = _shop()
    before = o.copy()
    rec = next_best_product(o, as_of="2024-01-31").set_index("customer_id")
    pd.testing.assert_frame_equal(o, before)
    assert list(rec.index) == ["c1", "c2", "c3", "c4", "c5"]  # c6 buys after as_of
    # c1 owns A and B; A -> C has lift 4/3 > 1, B -> C has lift 2/3 (ignored)
    assert rec.loc["c1", "next_best_product"] == "C"
    assert rec.loc["c1", "product_name"] == "Candle"
    assert rec.loc["c1", "reason"] == "often bought with Apron"
    assert rec.loc["c1", "score"] == pytest.approx(2 / 3)
    # c2 owns everything sold
    assert rec.loc["c2", "next_best_product"] == "" and rec.loc["c2", "reason"] == NOTHING_LEFT
    # c3 owns A and C: A -> B has lift 8/9 < 1, so no signal: the best seller not owned is B
    assert rec.loc["c3", "next_best_product"] == "B" and rec.loc["c3", "reason"] == BEST_SELLER
    # c4 owns B: best sellers are A and B (3 buyers each; A first by id), A it is
    assert rec.loc["c4", "next_best_product"] == "A" and rec.loc["c4", "reason"] == BEST_SELLER
    assert rec.loc["c4", "score"] == pytest.approx(3 / 5)  # share of customers who bought A
    # c5 returned C (so owns it; a return is no signal) and has no purchase: best seller A
    assert rec.loc["c5", "next_best_product"] == "A" and rec.loc["c5", "reason"] == BEST_SELLER
    assert rec["next_best_product"].notna().all() and rec["reason"].notna().all()
    assert (rec["rank"] == 1).all()


def test_a_customer_without_a_signal_gets_the_best_seller_of_their_category():
    """A tea buyer with no bought-together rule is offered the best tea they do not have, not
    the store's best-selling T-shirt; a customer whose category is sold out of new products,
    or who has no category, still gets the store's best seller."""
    rows = [
        (f"s{i}", f"S{i}", "2024-01-01", "TS", 20.0) for i in range(6)
    ]  # T-shirt: the best seller
    rows += [
        (f"t{i}", f"T{i}", "2024-01-02", "GREEN", 9.0) for i in range(3)
    ]  # green tea: best tea
    rows += [
        ("t9", "T9", "2024-01-03", "BLACK", 8.0),
        ("solo", "X1", "2024-01-04", "BLACK", 8.0),
        ("mug", "M1", "2024-01-05", "MUG", 6.0),
    ]
    o = _lines(rows)
    products = pd.DataFrame(
        {
            "product_id": ["TS", "GREEN", "BLACK", "MUG"],
            "name": ["T-shirt", "Green Sampler", "Black tea", "Mug"],
            "category": ["Apparel", "Tea", "Tea", None],
        }
    )
    rec = next_best_product(o, products=products, top_n=2)
    solo = rec[rec["customer_id"] == "solo"]
    assert solo["next_best_product"].tolist() == [
        "GREEN",
        "TS",
    ]  # the best tea first, then the store's
    assert solo["reason"].tolist() == ["best seller in Tea", BEST_SELLER]
    assert solo["score"].iloc[0] == pytest.approx(3 / len(set(o["customer_id"])))
    first = rec[rec["rank"] == 1].set_index("customer_id")
    assert (
        first.loc["t0", "next_best_product"] == "BLACK"
        and first.loc["t0", "reason"] == "best seller in Tea"
    )
    assert (
        first.loc["mug", "next_best_product"] == "TS" and first.loc["mug", "reason"] == BEST_SELLER
    )
    # without categories, the store's best seller as before
    plain = next_best_product(o, products=products.drop(columns="category")).set_index(
        "customer_id"
    )
    assert (
        plain.loc["solo", "next_best_product"] == "TS"
        and plain.loc["solo", "reason"] == BEST_SELLER
    )


def test_next_best_product_top_n_products_table_and_given_rules():
    o = _shop()
    products = pd.DataFrame(
        {"product_id": ["A", "B", "C", "D"], "name": ["Linen apron", "", "Candle", "Mat"]}
    )
    rec = next_best_product(o, top_n=3, products=products)
    c1 = rec[rec["customer_id"] == "c1"]
    assert c1["rank"].tolist() == [1, 2] and c1["next_best_product"].tolist() == ["C", "D"]
    assert c1["reason"].tolist() == ["often bought with Linen apron", BEST_SELLER]
    c6 = rec[rec["customer_id"] == "c6"]
    assert c6["next_best_product"].tolist() == ["A", "B", "C"]
    assert (
        rec.loc[rec["next_best_product"] == "B", "product_name"].eq("Basket").all()
    )  # blank name -> orders'
    c2 = rec[rec["customer_id"] == "c2"]
    assert c2["next_best_product"].tolist() == ["D"]
    # rules passed in are used as they are: make B -> D a strong rule
    rules = pd.DataFrame(
        {
            "product_a": ["B"],
            "product_b": ["D"],
            "n_orders_together": [9],
            "support": [0.5],
            "confidence": [0.9],
            "lift": [3.0],
        }
    )
    given = next_best_product(o, affinity=rules).set_index("customer_id")
    assert given.loc["c4", "next_best_product"] == "D"
    assert given.loc["c4", "reason"] == "often bought with Basket"
    unnamed = next_best_product(o.drop(columns="product_name")).set_index("customer_id")
    assert (
        unnamed.loc["c1", "reason"] == "often bought with A"
        and unnamed.loc["c1", "product_name"] == ""
    )
    with pytest.raises(ValueError):
        next_best_product(o, top_n=0)


def test_next_best_product_without_products():
    o = _shop().drop(columns=["product_id", "product_name"])
    rec = next_best_product(o)
    assert len(rec) == 6 and rec["next_best_product"].eq("").all()
    assert rec["reason"].eq(NO_PRODUCTS).all()


# --- Online Retail ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def retail():
    from tests.builders import SHARED_DATA

    path = SHARED_DATA / "online_retail_lines_sample.csv"
    if not path.exists():
        pytest.skip(f"the shared Online Retail sample is not at {path}")
    orders, _ = load_orders(path)
    return orders


def test_online_retail_known_pairs_have_lift(retail):
    rules = product_affinity(retail).set_index(["product_a", "product_b"])
    known = [
        ("22865", "22866"),  # HAND WARMER OWL DESIGN / SCOTTY DOG DESIGN
        ("22632", "22633"),  # HAND WARMER RED POLKA DOT / UNION JACK
        ("22086", "22910"),  # PAPER CHAIN KIT 50'S CHRISTMAS / VINTAGE CHRISTMAS
        ("84029E", "84029G"),  # RED WOOLLY HOTTIE WHITE HEART / KNITTED UNION FLAG HOT WATER BOTTLE
    ]
    for a, b in known:
        assert rules.loc[(a, b), "lift"] > 2 and rules.loc[(b, a), "lift"] > 2
        assert rules.loc[(a, b), "n_orders_together"] >= 10


def test_online_retail_counts_match_a_pandas_self_join(retail):
    rules = product_affinity(retail, min_support=0.0, min_orders=1, max_pairs=10**7)
    lines = retail.loc[
        (retail["amount"] >= 0) & retail["product_id"].notna(), ["order_id", "product_id"]
    ]
    lines = lines.drop_duplicates()
    pairs = lines.merge(lines, on="order_id")
    pairs = pairs[pairs["product_id_x"] != pairs["product_id_y"]]
    together = pairs.groupby(["product_id_x", "product_id_y"]).size()
    got = rules.set_index(["product_a", "product_b"])["n_orders_together"]
    assert len(got) == len(together)
    assert got.sort_index().to_numpy().tolist() == together.sort_index().to_numpy().tolist()
    n = lines["order_id"].nunique()
    n_item = lines["product_id"].value_counts()
    a, b = "22865", "22866"
    assert rules.set_index(["product_a", "product_b"]).loc[(a, b), "lift"] == pytest.approx(
        together[(a, b)] * n / (n_item[a] * n_item[b])
    )


def test_online_retail_recommendations_exclude_owned(retail):
    rec = next_best_product(retail)
    assert rec["customer_id"].is_unique
    assert set(rec["customer_id"]) == set(retail["customer_id"])
    assert rec[["next_best_product", "reason", "product_name"]].notna().all().all()
    owned = retail[["customer_id", "product_id"]].drop_duplicates()
    clash = rec.merge(
        owned, left_on=["customer_id", "next_best_product"], right_on=["customer_id", "product_id"]
    )
    assert clash.empty
    assert (rec["reason"].str.startswith("often bought with ")).mean() > 0.8
    named = rec["next_best_product"] != ""
    assert (rec.loc[named, "product_name"] != "").all()
    assert np.isfinite(rec["score"]).all()


def test_postage_and_fees_are_never_the_next_best_product():
    """Online Retail's POST (POSTAGE), DOT (DOTCOM POSTAGE), M (Manual), BANK CHARGES: the
    most common 'products' of the real file, and not merchandise. A name containing such a
    word as part of a real product ("Polka Dot Dress", "POSTMAN BAG") is still a product."""
    from tests.builders import SHARED_DATA

    path = SHARED_DATA / "online_retail_lines.parquet"
    if not path.exists():
        pytest.skip("full Online Retail not in shared data")
    d = pd.read_parquet(path)
    d = d[d["CustomerID"].notna()]
    orders = pd.DataFrame(
        {
            "customer_id": d["CustomerID"].astype(str),
            "order_id": d["InvoiceNo"],
            "amount": d["Quantity"] * d["UnitPrice"],
            "product_id": d["StockCode"],
            "product_name": d["Description"].str.strip(),
        }
    )
    nbp = next_best_product(orders, top_n=3)
    assert not set(nbp["next_best_product"]) & {
        "POST",
        "DOT",
        "M",
        "BANK CHARGES",
        "C2",
        "AMAZONFEE",
    }
    assert not nbp["reason"].str.contains("POSTAGE|Manual", regex=True).any()
    assert (nbp["next_best_product"] != "").mean() > 0.99
    toy = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b", "c"],
            "order_id": ["1", "1", "2", "2", "3"],
            "amount": [5.0] * 5,
            "product_id": ["X", "SHIP", "X", "Y", "X"],
            "product_name": [
                "Polka Dot Dress",
                "Shipping",
                "Polka Dot Dress",
                "POSTMAN BAG",
                "Polka Dot Dress",
            ],
        }
    )
    got = next_best_product(toy).set_index("customer_id")["next_best_product"]
    assert got["c"] == "Y" and "SHIP" not in set(got)
