"""RFM segments, CLV tiers, behavioural clusters and segment migration on hand-made stores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tools.errors import DataError
from tools.ingest.keys import hashed_sample
from tools.insights.segments import (
    CLUSTER_FIT_ROWS,
    SEGMENT_GRID,
    SEGMENTS,
    behaviour_clusters,
    clv_tiers,
    fit_clusters,
    migration_matrix,
    migration_summary,
    quintile_scores,
    rfm_scores,
    rfm_table,
    segment_migration,
)

AS_OF = pd.Timestamp("2024-06-30")


def _orders(rows):
    """rows: (customer, order, date, amount)."""
    return pd.DataFrame(rows, columns=["customer_id", "order_id", "order_date", "amount"]).assign(
        order_date=lambda d: pd.to_datetime(d["order_date"], format="mixed")
    )


def _store() -> pd.DataFrame:
    """Ten customers: 'champ' recent, frequent, big; 'lost' one small order long ago."""
    rows = []
    for i, day in enumerate(pd.date_range("2024-01-05", "2024-06-29", periods=12)):
        rows.append(("champ", f"ch{i}", day, 500.0))
    rows.append(("lost", "l0", "2022-02-01", 3.0))
    for c in range(8):  # a spread of ordinary customers
        for j in range(1 + c % 4):
            rows.append(
                (
                    f"mid{c}",
                    f"m{c}-{j}",
                    pd.Timestamp("2023-06-01") + pd.Timedelta(days=40 * c + 7 * j),
                    20.0 + 15 * c,
                )
            )
    return _orders(rows)


# --- rfm_table -----------------------------------------------------------------------


def test_rfm_table_counts_days_nets_refunds_and_stops_at_as_of():
    o = _orders(
        [
            ("a", "1", "2024-06-01 09:00", 10.0),
            ("a", "2", "2024-06-01 18:00", 5.0),  # same day: one occasion
            ("a", "3", "2024-06-20", 30.0),
            ("a", "3", "2024-06-25", -4.0),  # refund nets against revenue, is no purchase
            ("a", "4", "2024-07-01", 99.0),  # after as_of
            ("b", "5", "2024-06-30 23:59", 0.0),  # a free order on the as-of day counts
            ("r", "6", "2024-06-10", -8.0),  # refund only: no purchase, no row
        ]
    )
    before = o.copy()
    t = rfm_table(o, as_of=AS_OF).set_index("customer_id")
    pd.testing.assert_frame_equal(o, before)
    assert list(t.index) == ["a", "b"]
    assert t.loc["a", "recency_days"] == 10
    assert t.loc["a", "frequency"] == 2
    assert t.loc["a", "monetary"] == pytest.approx(41.0)
    assert t.loc["b", "recency_days"] == 0 and t.loc["b", "frequency"] == 1


def test_rfm_table_as_of_is_keyword_only_and_columns_are_checked():
    o = _store()
    with pytest.raises(TypeError):
        rfm_table(o, AS_OF)  # type: ignore[misc]
    with pytest.raises(DataError, match="amount"):
        rfm_table(o.drop(columns="amount"), as_of=AS_OF)


# --- quintile scores and segments ------------------------------------------------------


def test_quintile_scores_exact_quintiles_for_distinct_values():
    assert quintile_scores(np.arange(10)).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert quintile_scores(np.arange(10), higher_is_better=False).tolist() == [
        5,
        5,
        4,
        4,
        3,
        3,
        2,
        2,
        1,
        1,
    ]
    rng = np.random.default_rng(0)
    counts = np.bincount(quintile_scores(rng.normal(size=10_000)))[1:]
    assert np.all(np.abs(counts - 2000) <= 1)


def test_quintile_scores_ties_share_a_score_and_few_values_are_handled():
    freq = np.array([1] * 70 + [2] * 15 + [3] * 8 + [5] * 7)
    s = quintile_scores(freq)
    for v in np.unique(freq):  # equal values, equal scores, whatever their row order
        assert len(set(s[freq == v])) == 1
    assert s[freq == 1][0] == 1  # one-time buyers are the lowest F
    assert np.all(np.diff(s[np.argsort(freq, kind="stable")]) >= 0)  # monotone
    assert s.max() == 5
    shuffled = np.random.default_rng(1).permutation(len(freq))
    assert np.array_equal(quintile_scores(freq[shuffled]), s[shuffled])  # deterministic
    assert quintile_scores([7, 7, 7]).tolist() == [3, 3, 3]  # no information: middle
    assert quintile_scores([]).tolist() == []
    assert quintile_scores([4.0]).tolist() == [3]


def test_segment_grid_covers_every_cell_with_the_eleven_segments():
    cells = {name for row in SEGMENT_GRID.values() for name in row}
    assert cells == set(SEGMENTS) and len(SEGMENTS) == 11
    assert all(len(row) == 5 for row in SEGMENT_GRID.values()) and sorted(SEGMENT_GRID) == [
        1,
        2,
        3,
        4,
        5,
    ]


def test_rfm_scores_champion_and_lost():
    rfm = rfm_table(_store(), as_of=AS_OF)
    before = rfm.copy()
    s = rfm_scores(rfm).set_index("customer_id")
    pd.testing.assert_frame_equal(rfm, before)
    assert s.loc["champ", ["r_score", "f_score", "m_score"]].tolist() == [5, 5, 5]
    assert s.loc["champ", "segment"] == "Champions"
    assert s.loc["lost", ["r_score", "f_score", "m_score"]].tolist() == [1, 1, 1]
    assert s.loc["lost", "segment"] in ("Lost", "Hibernating")
    assert s["segment"].isin(SEGMENTS).all() and s.index.is_unique
    for col in ("r_score", "f_score", "m_score", "fm_score"):
        assert s[col].between(1, 5).all()


def test_rfm_scores_follow_the_grid():
    # five customers whose R and F/M scores come out as 5..1 in step: one per grid diagonal
    rfm = pd.DataFrame(
        {
            "customer_id": list("vwxyz"),
            "recency_days": [1, 2, 3, 4, 5],
            "frequency": [1, 2, 3, 4, 5],
            "monetary": [10.0, 20, 30, 40, 50],
        }
    )
    s = rfm_scores(rfm).set_index("customer_id")
    assert s["r_score"].tolist() == [5, 4, 3, 2, 1] and s["fm_score"].tolist() == [1, 2, 3, 4, 5]
    assert s["segment"].tolist() == [
        "New",
        "Potential loyalist",
        "Need attention",
        "At risk",
        "Can't lose them",
    ]


def test_rfm_scores_empty_and_single_customer():
    empty = rfm_scores(rfm_table(_orders([("a", "1", "2025-01-01", 5.0)]), as_of=AS_OF))
    assert len(empty) == 0 and "segment" in empty
    one = rfm_scores(rfm_table(_orders([("a", "1", "2024-06-01", 5.0)]), as_of=AS_OF))
    assert one["segment"].tolist() == ["Need attention"]


# --- CLV tiers ---------------------------------------------------------------------------


def test_clv_tiers_proportions_and_index():
    values = pd.Series(np.random.default_rng(0).gamma(1.0, 100.0, 1000), index=np.arange(1000) * 3)
    tiers = clv_tiers(values)
    assert tiers.index.equals(values.index)
    assert tiers.value_counts().to_dict() == {"low": 500, "medium": 300, "high": 200}
    assert values[tiers == "high"].min() > values[tiers == "medium"].max()
    assert values[tiers == "medium"].min() > values[tiers == "low"].max()
    custom = clv_tiers(values, cuts=(0.9, 0.99)).value_counts()
    assert custom["high"] == 10 and custom["medium"] == 90


def test_clv_tiers_ties_and_bad_cuts():
    tiers = clv_tiers(pd.Series([0.0] * 6 + [5.0, 6.0, 7.0, 8.0]))
    assert tiers[:6].eq("low").all()
    assert tiers.tolist()[6:] == ["medium", "medium", "high", "high"]
    assert clv_tiers(pd.Series([], dtype=float)).empty
    with pytest.raises(ValueError):
        clv_tiers(pd.Series([1.0]), cuts=(0.8, 0.5))


# --- behaviour clusters --------------------------------------------------------------------


def _blobs(n_each=200, seed=0):
    rng = np.random.default_rng(seed)
    groups = {  # recency_days, n_occasions, avg_order_value, discount_share
        "loyal": (10, 12, 150.0, 0.05),
        "bargain": (60, 4, 40.0, 0.9),
        "lapsed": (400, 1, 30.0, 0.1),
    }
    frames = []
    for name, (rec, occ, aov, disc) in groups.items():
        frames.append(
            pd.DataFrame(
                {
                    "recency_days": rng.normal(rec, rec * 0.1, n_each).clip(0),
                    "n_occasions": rng.poisson(occ, n_each) + 1,
                    "avg_order_value": rng.lognormal(np.log(aov), 0.15, n_each),
                    "discount_share": (disc + rng.normal(0, 0.03, n_each)).clip(0, 1),
                    "truth": name,
                }
            )
        )
    X = pd.concat(frames, ignore_index=True)
    X.index = "c" + X.index.astype(str)
    return X


def test_behaviour_clusters_finds_the_groups_and_describes_them():
    X = _blobs()
    feats = X.drop(columns="truth")  # a text column would be ignored anyway
    before = feats.copy()
    labels, desc = behaviour_clusters(feats, seed=0)
    pd.testing.assert_frame_equal(feats, before)
    assert labels.index.equals(feats.index)
    assert sorted(desc) == sorted(labels.unique()) and len(desc) == 3  # k chosen by silhouette
    purity = pd.crosstab(labels, X["truth"]).max(axis=1).sum() / len(X)
    assert purity > 0.95
    by_truth = {t: desc[labels[X["truth"] == t].mode()[0]] for t in ("loyal", "bargain", "lapsed")}
    assert "frequent" in by_truth["loyal"] and "recent" in by_truth["loyal"]
    assert "high-basket" in by_truth["loyal"]
    assert "discount-heavy" in by_truth["bargain"]
    assert "lapsed" in by_truth["lapsed"] and "infrequent" in by_truth["lapsed"]
    assert all("% of customers" in d for d in desc.values())


def test_behaviour_clusters_deterministic_with_seed_and_fixed_k():
    feats = _blobs(seed=3).drop(columns="truth")
    a, da = behaviour_clusters(feats, seed=7)
    b, db = behaviour_clusters(feats, seed=7)
    assert a.equals(b) and da == db
    labels, desc = behaviour_clusters(feats, k=4, seed=0)
    assert labels.nunique() == 4 and len(desc) == 4
    sizes = labels.value_counts()
    assert sizes.index[0] == 0  # label 0 is the largest cluster


def test_behaviour_clusters_large_n_fit_on_customers_drawn_by_id_and_degenerate_inputs():
    """Above CLUSTER_FIT_ROWS the clusters are fitted on a sample drawn by id: the rows' order
    does not change any customer's cluster, and a table of the sample alone (what the Spark
    engine collects) gives the same fit, so both engines put every customer in the same cluster."""
    feats = pd.concat(
        [_blobs(n_each=8000, seed=s).drop(columns="truth") for s in (1, 2)], ignore_index=True
    )
    feats.index = "C" + feats.index.astype(str).str.zfill(6)
    assert len(feats) > CLUSTER_FIT_ROWS
    labels, desc = behaviour_clusters(feats, k=3, seed=0)
    assert len(labels) == 48_000 and labels.nunique() == 3
    shuffled = feats.sample(frac=1.0, random_state=5)
    again, desc_again = behaviour_clusters(shuffled, k=3, seed=0)
    pd.testing.assert_series_equal(again.loc[feats.index], labels)
    assert desc_again == desc
    drawn = hashed_sample(feats.index, n_customers=len(feats), limit=CLUSTER_FIT_ROWS, seed=0)
    assert 0.9 * CLUSTER_FIT_ROWS < drawn.sum() < 1.1 * CLUSTER_FIT_ROWS
    alone = fit_clusters(
        feats[drawn].iloc[::-1], feats.index[drawn][::-1], k=3, seed=0, n_customers=len(feats)
    )
    assert alone is not None and alone.descriptions == desc
    np.testing.assert_array_equal(alone.assign(feats), labels.to_numpy())
    same = pd.DataFrame({"x": [1.0] * 5, "y": [2.0] * 5})
    labels, desc = behaviour_clusters(same)
    assert labels.tolist() == [0] * 5 and len(desc) == 1
    labels, desc = behaviour_clusters(pd.DataFrame({"x": [1.0, 2.0, np.nan, 9.0]}), k=6)
    assert labels.nunique() == 3  # capped at the distinct rows (NaN -> median)


def test_the_hashed_sample_depends_on_each_id_and_the_seed_alone():
    ids = np.array([f"C{i:06d}" for i in range(50_000)], dtype=object)
    a = hashed_sample(ids, n_customers=len(ids), limit=5_000, seed=3)
    assert 4_500 < a.sum() < 5_500
    order = np.random.default_rng(0).permutation(len(ids))
    np.testing.assert_array_equal(
        hashed_sample(ids[order], n_customers=len(ids), limit=5_000, seed=3), a[order]
    )
    b = hashed_sample(ids, n_customers=len(ids), limit=5_000, seed=4)
    assert (a & b).sum() < 0.2 * a.sum()  # another seed, another sample
    assert hashed_sample(ids[:10], n_customers=10, limit=10, seed=3).all()


# --- migration -----------------------------------------------------------------------------


def test_segment_migration_counts_new_and_gone():
    before = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "segment": ["Champions", "Champions", "At risk", "New", "Lost"],
        }
    )
    after = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "f", "g"],
            "segment": ["Champions", "At risk", "Lost", "Loyal", "New", "New"],
        }
    )
    m = segment_migration(before, after)
    got = {(r.from_segment, r.to_segment): r.customers for r in m.itertuples()}
    assert got == {
        ("(new)", "New"): 2,
        ("Champions", "Champions"): 1,
        ("Champions", "At risk"): 1,
        ("New", "Loyal"): 1,
        ("At risk", "Lost"): 1,
        ("Lost", "(gone)"): 1,
    }
    assert m.loc[m["from_segment"] == "Champions", "share_of_from"].tolist() == [0.5, 0.5]
    assert m["from_segment"].iloc[0] == "(new)"  # ordered by SEGMENTS, (new) first
    mat = migration_matrix(m)
    assert mat.loc["Champions", "At risk"] == 1 and mat.loc["(new)", "Champions"] == 0
    assert int(mat.to_numpy().sum()) == 7

    s = migration_summary(before, after).set_index("segment")
    assert s.loc["Champions"].to_dict() == {
        "before": 2,
        "after": 1,
        "change": -1,
        "stayed": 1,
        "moved_in": 0,
        "new": 0,
        "moved_out": 1,
        "gone": 0,
    }
    assert s.loc["New", "new"] == 2 and s.loc["New", "change"] == 1
    assert s.loc["Lost", "gone"] == 1 and s.loc["Lost", "moved_in"] == 1
    assert s["before"].sum() == 5 and s["after"].sum() == 6
    assert list(s.index) == [seg for seg in SEGMENTS if seg in s.index]


def test_segment_migration_rejects_duplicate_customers():
    snap = pd.DataFrame({"customer_id": ["a", "a"], "segment": ["Lost", "New"]})
    with pytest.raises(DataError, match="twice"):
        segment_migration(snap, snap.iloc[:1])


def test_migration_between_two_rfm_snapshots():
    o = _store()
    s1 = rfm_scores(rfm_table(o, as_of="2023-12-31"))
    s2 = rfm_scores(rfm_table(o, as_of=AS_OF))
    m = segment_migration(s1, s2)
    assert m["customers"].sum() == len(set(s1["customer_id"]) | set(s2["customer_id"]))
    assert m.loc[m["from_segment"] == "(new)", "customers"].sum() == len(
        set(s2["customer_id"]) - set(s1["customer_id"])
    )
