"""The Spark jobs of `tools.scoring.engine.spark.score_spark` beyond its SQL views.

What is collected to the driver (`small_results`: the compressed statistics and the RFM
histograms in one job; `sample_tables`: the orders, events and tickets of a deterministic
sample of customers, `sample_clause`), the scoring of every customer on the executors
(`score_all`: mapInPandas with the fitted models broadcast, the next best product per
partition of order lines, the CLV tier by approximate percentiles) and the summary of the
written scores (`summary_of`). PySpark's functions are imported only inside them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tools.ingest.keys import SAMPLE_BUCKETS, sample_share
from tools.scoring.engine import sql as Q
from tools.scoring.engine.apply import Fitted, next_best_products, score_rows


def _pandas_times(df: pd.DataFrame, cols) -> pd.DataFrame:
    for c in cols:
        if c in df:
            # seconds as a double hold whole microseconds exactly: no rounding to the second
            df[c] = pd.to_datetime(np.round(df[c].to_numpy(float) * 1e6), unit="us")
    return df


def sample_clause(n_customers: int, limit: int, seed: int) -> str:
    """A deterministic sample of about `limit` customers (all when there are no more): the
    customers `tools.ingest.keys.hashed_sample` draws (Spark's `crc32` of the UTF-8 string is
    zlib's)."""
    share = sample_share(n_customers, limit)
    if share is None:
        return "TRUE"
    return f"pmod(crc32(concat(customer_id, '#{int(seed)}')), {SAMPLE_BUCKETS}) < {share}"


def sample_tables(
    spark, paths: dict[str, str], *, n_customers: int, limit: int, seed: int, t0: int
):
    """The order lines (up to the as-of day `t0`), events and tickets of a sample of about
    `limit` customers (`sample_clause`; the view `_sample`), as pandas tables with times,
    and the products table: (lines, events, tickets, products), None for a table the store
    does not have."""
    where = sample_clause(n_customers, limit, seed)
    spark.sql(f"SELECT customer_id FROM customers WHERE {where}").createOrReplaceTempView("_sample")
    s_lines = spark.sql(f"""
        SELECT l.customer_id, l.order_id, l.ts AS order_date, l.amount, l.discount, l.product_id,
               l.product_name, l.returned AS returned_in_full
        FROM lines l LEFT SEMI JOIN _sample s ON l.customer_id = s.customer_id
        WHERE l.day <= {t0}""").toPandas()
    s_lines = _pandas_times(s_lines, ["order_date"])
    s_lines = s_lines.sort_values(
        ["order_date", "customer_id", "order_id"], kind="stable", ignore_index=True
    )
    s_events = s_tickets = products = None
    if "events" in paths:
        s_events = _pandas_times(
            spark.sql("""
            SELECT e.customer_id, e.ts AS timestamp, e.type FROM events e
            LEFT SEMI JOIN _sample s ON e.customer_id = s.customer_id""").toPandas(),
            ["timestamp"],
        )
    if "tickets" in paths:
        s_tickets = _pandas_times(
            spark.sql("""
            SELECT t.customer_id, t.opened AS opened_at, t.resolved AS resolved_at, t.severity,
                   t.sentiment, t.text FROM tickets t
            LEFT SEMI JOIN _sample s ON t.customer_id = s.customer_id""").toPandas(),
            ["opened_at", "resolved_at"],
        )
    if "products" in paths:
        products = spark.table("products_src").toPandas()
    return s_lines, s_events, s_tickets, products


def small_results(spark):
    """The compressed statistics and the RFM histograms, in one job (each is small)."""
    parts = {
        "purchase": Q.compressed_rows(),
        "spend": Q.spend_rows(),
        **{
            c: Q.histogram(c, where="n_occasions > 0")
            for c in ("recency_days", "n_occasions", "revenue_to_date")
        },
    }
    cols = {
        "purchase": ("frequency", "recency", "T", "weight"),
        "spend": ("frequency", "monetary_value", "weight"),
    }
    union = " UNION ALL ".join(
        f"SELECT '{k}' AS part, "
        + (
            "CAST(frequency AS DOUBLE) AS a, CAST(recency AS DOUBLE) AS b, "
            "CAST(T AS DOUBLE) AS c, weight AS w"
            if k == "purchase"
            else "CAST(frequency AS DOUBLE) AS a, monetary_value AS b, NULL AS c, weight AS w"
            if k == "spend"
            else "CAST(value AS DOUBLE) AS a, NULL AS b, NULL AS c, n AS w"
        )
        + f" FROM ({q}) t{i}"
        for i, (k, q) in enumerate(parts.items())
    )
    got = spark.sql(union).toPandas()
    by = {k: got.loc[got["part"] == k] for k in parts}
    purchase = pd.DataFrame(
        {
            "frequency": by["purchase"]["a"].to_numpy(np.int64),
            "recency": by["purchase"]["b"].to_numpy(float),
            "T": by["purchase"]["c"].to_numpy(float),
            "weight": by["purchase"]["w"].to_numpy(np.int64),
        }
    )
    spend = pd.DataFrame(
        {
            "frequency": by["spend"]["a"].to_numpy(np.int64),
            "monetary_value": by["spend"]["b"].to_numpy(float),
            "weight": by["spend"]["w"].to_numpy(np.int64),
        }
    )
    hist = {
        k: pd.DataFrame({"value": by[k]["a"].to_numpy(float), "n": by[k]["w"].to_numpy(np.int64)})
        for k in parts
        if k not in cols
    }
    return purchase, spend, hist


SCORE_BATCH = 250_000  # customers scored in one call of score_rows at most


def _bounded(batches, limit: int = SCORE_BATCH):
    """A partition's Arrow batches joined into frames of at most about `limit` rows, so that
    a worker's memory is bounded by the batch, not by the size of its partition."""
    held: list[pd.DataFrame] = []
    n = 0
    for b in batches:
        if len(b):
            held.append(b)
            n += len(b)
        if n >= limit:
            yield pd.concat(held, ignore_index=True)
            held, n = [], 0
    if held:
        yield pd.concat(held, ignore_index=True)


def score_all(spark, customers, fitted: Fitted, *, affinity, products, t0: int):
    """Scores of every customer (mapInPandas with the bundle broadcast), the next best
    product per partition of order lines, and the CLV tier by approximate percentiles."""
    from pyspark.sql import functions as F

    bundle = spark.sparkContext.broadcast(fitted)
    probe = score_rows(customers.limit(64).toPandas(), fitted)
    schema = spark.createDataFrame(probe).schema

    def score_partition(batches):
        for rows in _bounded(batches):
            yield score_rows(rows, bundle.value)

    scored = customers.mapInPandas(score_partition, schema)
    if affinity is not None:
        rules = spark.sparkContext.broadcast((affinity, products))

        def nbp_partition(batches):
            rows = [b for b in batches if len(b)]
            if rows:
                aff, prod = rules.value
                yield next_best_products(
                    pd.concat(rows, ignore_index=True), affinity=aff, products=prod
                )

        lines = spark.sql(f"""SELECT customer_id, order_id, product_id, product_name, amount
                              FROM lines WHERE day <= {t0}""")
        n_part = max(
            int(spark.sparkContext.defaultParallelism),
            int(spark.conf.get("spark.sql.shuffle.partitions")),
            1,
        )
        nbp = lines.repartition(n_part, "customer_id").mapInPandas(
            nbp_partition,
            "customer_id string, next_best_product string, next_best_product_name string",
        )
        scored = scored.join(nbp, "customer_id", "left")
    else:
        scored = scored.withColumn("next_best_product", F.lit(None).cast("string")).withColumn(
            "next_best_product_name", F.lit(None).cast("string")
        )
    scored = scored.fillna("", subset=["next_best_product", "next_best_product_name"]).persist()
    lo, hi = scored.approxQuantile("predicted_clv", [0.5, 0.8], 1e-4) or (np.inf, np.inf)
    tier = (
        F.when(F.col("predicted_clv") >= hi, "high")
        .when(F.col("predicted_clv") >= lo, "medium")
        .otherwise("low")
    )
    from tools.scoring.score import EXTRA_COLUMNS, SCORE_COLUMNS

    cols = [c for c in (*SCORE_COLUMNS, *EXTRA_COLUMNS) if c in scored.columns or c == "clv_tier"]
    return scored.withColumn("clv_tier", tier).select(*cols)


def summary_of(scores) -> tuple[dict, pd.DataFrame, dict]:
    from pyspark.sql import functions as F

    row = (
        scores.agg(
            F.count("*").alias("customers"),
            F.sum("predicted_clv").alias("predicted_clv"),
            F.mean("churn_probability").alias("mean_churn"),
            F.sum(F.when(F.col("churn_probability") > 0.5, 1).otherwise(0)).alias(
                "likely_to_lapse"
            ),
        )
        .first()
        .asDict()
    )
    top = (
        scores.withColumn("at_stake", F.col("churn_probability") * F.col("predicted_clv"))
        .orderBy(F.col("at_stake").desc(), F.col("customer_id"))
        .limit(5)
        .toPandas()
    )
    counts = {r["model"]: int(r["count"]) for r in scores.groupBy("model").count().collect()}
    return row, top, counts
