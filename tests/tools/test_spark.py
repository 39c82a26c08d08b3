"""The Spark engine (`retention score --engine spark`, tools.scoring.engine) against the embedded one.

PySpark runs in local mode (local[2], UI off, bound to 127.0.0.1) on Java 17 (.ci/run installs
it when missing). The pure parts (quintiles from histograms, the purchase model from
compressed statistics) are tested without Spark.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from tools.insights.segments import quintile_scores
from tools.models import clv
from tools.models.rfm import rfm_summary
from tools.scoring.engine.fitting import QuintileThresholds, clv_from_statistics

# --- without Spark ------------------------------------------------------------------------------


@pytest.mark.parametrize("higher", [True, False])
def test_quintile_thresholds_give_the_scores_of_quintile_scores(higher):
    rng = np.random.default_rng(3)
    for values in (
        rng.integers(0, 12, 500).astype(float),  # heavy ties, as frequencies
        np.round(rng.lognormal(3, 1, 2_000), 2),  # money, a few ties
        np.r_[np.ones(90), rng.integers(2, 5, 10)].astype(float),  # 90% one-timers
        np.full(7, 4.0),
        np.array([1.0, 2.0]),
    ):
        v, n = np.unique(values, return_counts=True)
        q = QuintileThresholds.of(v, n, higher_is_better=higher)
        np.testing.assert_array_equal(
            q.scores(values), quintile_scores(values, higher_is_better=higher)
        )


def test_a_partition_is_scored_in_bounded_batches_and_no_customer_is_lost():
    from tools.scoring.engine.spark_jobs import _bounded

    sizes = [3, 0, 4, 4, 1, 0, 7, 2]  # Arrow batches of one partition, empty ones included
    batches = [
        pd.DataFrame({"customer_id": [f"{i}-{j}" for j in range(n)]}) for i, n in enumerate(sizes)
    ]
    frames = list(_bounded(iter(batches), limit=5))
    ids = [c for f in frames for c in f["customer_id"]]
    assert ids == [c for b in batches for c in b["customer_id"]]  # every customer once, in order
    # a frame closes once it holds the limit: at most limit-1 plus one batch
    assert all(0 < len(f) < 5 + max(sizes) for f in frames)
    assert [len(f) for f in frames] == [7, 5, 7, 2]
    assert list(_bounded(iter([pd.DataFrame({"customer_id": []})]), limit=5)) == []


def test_shuffle_partitions_grow_with_the_order_lines():
    from tools.scoring.engine.spark import LINES_PER_PARTITION, partitions_for

    assert partitions_for(1_000, at_least=4) == 4  # a small store keeps the session's setting
    assert partitions_for(10 * LINES_PER_PARTITION, at_least=4) == 10
    assert partitions_for(10 * LINES_PER_PARTITION + 1, at_least=4) == 11


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    from tools.demo.store import generate_store

    path = tmp_path_factory.mktemp("spark") / "store"
    generate_store(path, customers=1_500, seed=7)
    return path


@pytest.fixture(scope="module")
def loaded(demo_store):
    from tools.ingest.load import load_store

    return load_store(demo_store)


def test_the_purchase_model_from_compressed_statistics_is_the_one_fitted_per_customer(loaded):
    as_of = loaded.orders["order_date"].max().normalize()
    rfm = rfm_summary(loaded.orders, as_of=as_of)
    direct = clv.fit_clv(rfm)
    buyers = rfm[rfm["orders_to_date"] > 0]
    purchase = buyers.groupby(["frequency", "recency", "T"]).size().rename("weight").reset_index()
    rep = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
    spend = rep.groupby(["frequency", "monetary_value"]).size().rename("weight").reset_index()
    assert len(purchase) < len(buyers)  # compressed
    fitted = clv_from_statistics(
        purchase, spend, positive_revenue=float(rfm["revenue_to_date"].clip(lower=0).sum())
    )
    assert fitted.model == direct.model and fitted.spend_model == direct.spend_model
    assert fitted.n_customers == direct.n_customers
    for name, value in direct.params.items():
        assert fitted.params[name] == pytest.approx(value, rel=1e-6), name
    for name, value in direct.spend_params.items():
        assert fitted.spend_params[name] == pytest.approx(value, rel=1e-6), name
    assert fitted.mean_order_value == pytest.approx(direct.mean_order_value, rel=1e-9)


# --- on Spark -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    from tools.scoring.engine.spark import JAVA_17, session

    if not (shutil.which("java") or shutil.os.path.isdir(JAVA_17)):
        pytest.skip("no Java runtime (.ci/run installs openjdk-17-jre-headless)")
    s = session(
        "local[2]", conf={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"}
    )
    yield s
    s.stop()


def test_spark_draws_the_customers_the_embedded_engine_samples(spark):
    """The sample clause (the ML sample, the clusters' fit rows) keeps exactly the customers
    `tools.ingest.keys.hashed_sample` keeps, ids with non-ASCII characters included."""
    from tools.ingest.keys import hashed_sample
    from tools.scoring.engine.spark_jobs import sample_clause

    ids = [f"C{i:05d}" for i in range(3_000)] + ["kunde-ß1", "顧客2", " 7"]
    spark.createDataFrame(pd.DataFrame({"customer_id": ids})).createOrReplaceTempView("_ids")
    for seed in (0, 11):
        where = sample_clause(len(ids), 600, seed)
        got = spark.sql(f"SELECT customer_id FROM _ids WHERE {where}").toPandas()["customer_id"]
        want = np.asarray(ids, dtype=object)[
            hashed_sample(ids, n_customers=len(ids), limit=600, seed=seed)
        ]
        assert 450 < len(want) < 750
        assert sorted(got) == sorted(want)
    assert sample_clause(len(ids), len(ids), 0) == "TRUE"


def test_the_sql_aggregation_is_the_embedded_engines(spark, demo_store, loaded):
    """Every RFM and feature column of the SQL (run by Spark) equals tools.models.rfm.rfm_summary's
    and tools.models.features.build_features' on the demo store, returns and full refunds included."""
    from tools.models.features import build_features
    from tools.scoring.engine import spark as E
    from tools.scoring.engine import sql as Q

    paths = E.store_paths(spark, str(demo_store))
    assert set(paths) == {"orders", "events", "tickets", "products"}
    found = E.register_inputs(spark, paths)
    as_of = loaded.orders["order_date"].max().normalize()
    t0 = int(as_of.value // (Q.DAY_S * 10**9))
    for name, text in Q.statements(
        as_of_day=t0,
        has_events=True,
        has_tickets=True,
        has_categories=found.get("categories", False),
    ):
        spark.sql(text).createOrReplaceTempView(name)
    got = spark.table("customers").toPandas().set_index("customer_id").sort_index()
    rfm = rfm_summary(loaded.orders, as_of=as_of).set_index("customer_id").sort_index()
    X = build_features(
        loaded.orders,
        as_of=as_of,
        events=loaded.events,
        tickets=loaded.tickets,
        products=loaded.products,
    ).sort_index()
    assert got.index.equals(X.index) and got.index.equals(rfm.index)
    assert (rfm["orders_to_date"] == 0).any()  # customers whose orders were all refunded
    for col in X.columns:
        np.testing.assert_allclose(
            got[col].to_numpy(float), X[col].to_numpy(float), rtol=1e-9, atol=1e-9, err_msg=col
        )
    for col in ("frequency", "recency", "T", "monetary_value", "orders_to_date", "revenue_to_date"):
        np.testing.assert_allclose(
            got[col].to_numpy(float), rfm[col].to_numpy(float), rtol=1e-9, atol=1e-9, err_msg=col
        )
    compressed = spark.sql(Q.compressed_rows()).toPandas()
    assert compressed["weight"].sum() == (rfm["orders_to_date"] > 0).sum()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["bgnbd"])
def test_both_engines_score_the_demo_store_alike(spark, demo_store, loaded, tmp_path, model):
    """The same customers; CLV ranked alike (Spearman >= 0.999); the same segment for >= 99%."""
    from scipy.stats import spearmanr

    from tools.scoring.engine import spark as E
    from tools.scoring.score import score_store

    as_of = loaded.orders["order_date"].max().normalize()
    res = E.score_spark(
        spark,
        E.store_paths(spark, str(demo_store)),
        out=str(tmp_path / "scores"),
        as_of=as_of,
        horizon_days=365,
        model=model,
    )
    on_spark = pd.read_parquet(tmp_path / "scores").set_index("customer_id").sort_index()
    embedded = (
        score_store(
            loaded.orders,
            as_of=as_of,
            horizon_days=365,
            model=model,
            events=loaded.events,
            tickets=loaded.tickets,
            products=loaded.products,
        )
        .scores.set_index("customer_id")
        .sort_index()
    )
    assert on_spark.index.equals(embedded.index)
    assert set(embedded.columns) <= set(on_spark.columns)
    assert res.summary["customers"] == len(embedded)
    rho = spearmanr(on_spark["predicted_clv"], embedded["predicted_clv"])[0]
    assert rho >= 0.999
    np.testing.assert_allclose(on_spark["p_alive"], embedded["p_alive"], rtol=1e-6)
    np.testing.assert_allclose(on_spark["expected_orders"], embedded["expected_orders"], rtol=1e-6)
    assert (on_spark["segment"] == embedded["segment"]).mean() >= 0.99
    assert (on_spark["clv_tier"] == embedded["clv_tier"]).mean() >= 0.98
    assert (on_spark["churn_reason"] == embedded["churn_reason"]).mean() >= 0.99
    # what reached the driver is small: compressed rows, not one row per customer
    driver = res.params["driver"]
    assert driver["compressed_rows"] < len(embedded)
    assert res.params["engine"] == "spark" and res.params["model_choice"]["value"] == "bgnbd"


def test_the_cli_asks_for_a_parquet_folder_before_starting_spark(workspace, demo_store, capsys):
    from agent.cli.main import main

    assert (
        main(
            [
                "score",
                "--engine",
                "spark",
                "--store",
                str(demo_store),
                "--workspace",
                str(workspace),
            ]
        )
        == 2
    )
    assert "give --out DIR" in capsys.readouterr().err
    assert (
        main(
            [
                "score",
                "--engine",
                "embedded",
                "--master",
                "local[2]",
                "--store",
                str(demo_store),
                "--workspace",
                str(workspace),
            ]
        )
        == 2
    )
    assert "--master is for --engine spark" in capsys.readouterr().err
    assert (
        main(
            ["score", "--engine", "dask", "--store", str(demo_store), "--workspace", str(workspace)]
        )
        == 2
    )
    assert "--engine must be one of embedded, spark" in capsys.readouterr().err


@pytest.mark.slow
def test_both_engines_choose_and_apply_the_same_purchase_model_on_cdnow(spark, tmp_path):
    """CDNOW sample at its published split, default model: the rolling-origin choice takes
    Pareto/NBD over BG/NBD on both engines, and both score every customer with it alike."""
    from evals.quality.cdnow import CALIBRATION_END, HOLDOUT_DAYS, write_store
    from tools.ingest.load import load_orders
    from tools.scoring.engine import spark as E
    from tools.scoring.score import score_store

    orders, _ = load_orders(write_store(tmp_path / "raw"), rejects_dir=tmp_path)
    folder = tmp_path / "cdnow"  # ISO dates (the raw file's are YYYYMMDD)
    folder.mkdir()
    orders.assign(order_date=orders["order_date"].dt.strftime("%Y-%m-%d"))[
        ["customer_id", "order_id", "order_date", "amount"]
    ].to_csv(folder / "orders.csv", index=False)
    res = E.score_spark(
        spark,
        E.store_paths(spark, str(folder)),
        out=str(tmp_path / "scores"),
        as_of=pd.Timestamp(CALIBRATION_END),
        horizon_days=HOLDOUT_DAYS,
    )
    emb = score_store(orders, as_of=CALIBRATION_END, horizon_days=HOLDOUT_DAYS)
    assert res.params["model_choice"] == emb.params["model_choice"]
    assert emb.params["model_choice"]["value"] == "paretonbd"
    assert (
        res.params["probabilistic"]["model"] == emb.params["probabilistic"]["model"] == "paretonbd"
    )
    on_spark = pd.read_parquet(tmp_path / "scores").set_index("customer_id").sort_index()
    embedded = emb.scores.set_index("customer_id").sort_index()
    assert on_spark.index.equals(embedded.index)
    assert (on_spark["model"] == embedded["model"]).all()
    assert on_spark["model"].str.startswith("value:paretonbd,").all()
    np.testing.assert_allclose(on_spark["expected_orders"], embedded["expected_orders"], rtol=1e-6)
    np.testing.assert_allclose(
        on_spark["churn_probability"], embedded["churn_probability"], rtol=1e-6
    )
