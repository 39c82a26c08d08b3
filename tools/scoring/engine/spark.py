"""`retention score --engine spark`: the aggregation and the scoring on Apache Spark.

    files ──► lines ──► customers (SQL, tools.scoring.engine.sql) ──► compressed statistics ─┐
                              │                      sample of customers' orders ────┤ driver:
                              │                      value histograms, cluster sample ┤ fits
                              └──► mapInPandas(score_rows, broadcast models) ◄────────┘
                                        └──► + next best product (per partition of lines)
                                        └──► clv_tier (approximate percentiles) ──► Parquet

What reaches the driver: the unique (frequency, recency, T) rows with their weights, the
unique (frequency, monetary value) rows of repeat customers, store totals, the histograms of
recency, frequency and revenue of the buyers (the RFM quintiles), the orders, events and
tickets of at most `SAMPLE_CUSTOMERS` customers (the ML model, the interval calibration and
the product rules are fitted on them, as the embedded engine fits its ML model on at most
that many), at most about `CLUSTER_FIT_ROWS` rows of six features (the behavioural clusters, on the
customers the embedded engine fits them on), and a
summary of the scores. Every customer is scored on the executors.

Input: canonical tables (the column names of `tools.schema`): orders (customer_id, order_id,
order_date, amount; optional discount, product_id, product_name, quantity,
returned_in_full), and optionally events, tickets, products, as Parquet or CSV files or
folders of them, at any path Spark reads (local, hdfs://, s3a://, ...). Rows without a
customer, a date or an amount, or with a placeholder customer id, are left out and counted;
an order returned in full by a later return is no purchase (`sql.returned_orders`). The
embedded loader's other cleaning (synonym columns, Shopify exports, per-file rejects) is not
repeated here: a store at Spark's scale is expected to arrive as clean tables.

Spark runs with its UI off; in local mode it binds to 127.0.0.1. PySpark is imported only
here (the `spark` extra).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tools.errors import DataError
from tools.insights.segments import CLUSTER_COLUMNS, CLUSTER_FIT_ROWS, fit_clusters
from tools.schema import PLACEHOLDER_IDS
from tools.scoring.choice import ALT_PURCHASE
from tools.scoring.engine import sql as Q
from tools.scoring.engine.apply import Fitted
from tools.scoring.engine.fitting import (
    SAMPLE_CUSTOMERS,
    QuintileThresholds,
    fit_on_sample,
    rfm_from_statistics,
)
from tools.scoring.engine.spark_jobs import (
    sample_clause,
    sample_tables,
    score_all,
    small_results,
    summary_of,
)
from tools.scoring.notes import PURCHASE_MODEL_NAMES

log = logging.getLogger(__name__)

JAVA_17 = "/usr/lib/jvm/java-17-openjdk-amd64"
TABLES = ("orders", "events", "tickets", "products")
CACHED = ("_orders", "customers")  # views of tools.scoring.engine.sql that later steps read again
LOCAL_MEMORY_SHARE = 0.4  # of the machine's memory: the JVM in local mode (local_driver_memory)
LINES_PER_PARTITION = 2_000_000  # order lines a shuffle partition holds at most (partitions_for)
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}
CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.adaptive.enabled": "true",
}


def session(
    master: str | None = None,
    *,
    app_name: str = "retention-score",
    conf: dict[str, str] | None = None,
):
    """A SparkSession: `master` ("local[2]", "spark://host:7077", "yarn", ...); None: the one
    spark-submit set up, else local mode on every core. Local mode binds to 127.0.0.1 with
    the UI off; workers run this Python (the venv's, with the project installed)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # the optional extra is missing
        raise DataError(
            "--engine spark needs PySpark",
            hint="pip install 'retention-agent[spark]' (or: pip install -e '.[spark]')",
        ) from None
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # launched by spark-submit
    local = (master or ("" if submitted else "local[*]")).startswith("local")
    if not os.environ.get("JAVA_HOME") and Path(JAVA_17).is_dir() and not shutil.which("java"):
        os.environ["JAVA_HOME"] = JAVA_17
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    b = SparkSession.builder.appName(app_name)
    if master or not submitted:
        b = b.master(master or "local[*]")
    extra = dict(LOCAL_CONF) if local else {}
    if local:  # a few partitions a core, not Spark's 200 (each partition scores its customers)
        m = re.match(r"local\[(\d+|\*)", master or "local[*]")
        cores = (os.cpu_count() or 1) if not m or m[1] == "*" else int(m[1])
        extra["spark.sql.shuffle.partitions"] = str(2 * cores)
        if "--driver-memory" not in os.environ.get("PYSPARK_SUBMIT_ARGS", ""):
            extra["spark.driver.memory"] = local_driver_memory()
    for k, v in {**CONF, **extra, **(conf or {})}.items():
        b = b.config(k, v)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def local_driver_memory() -> str:
    """The JVM heap of local mode, where the driver is also the executor: a share of this
    machine's memory (`LOCAL_MEMORY_SHARE`, at least 1 GiB, Spark's default), leaving the rest
    to the Python workers that score the customers. PYSPARK_SUBMIT_ARGS="--driver-memory 8g
    pyspark-shell" or `conf` set it instead."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{max(1, int(total * LOCAL_MEMORY_SHARE / 2**30))}g"


def partitions_for(lines: int, *, at_least: int) -> int:
    """Shuffle partitions for a store of `lines` order lines: at most `LINES_PER_PARTITION`
    lines a partition (each partition's customers are scored in one Python worker), and no
    fewer than the session's own setting."""
    return max(int(at_least), -(-int(lines) // LINES_PER_PARTITION))


# --- reading ----------------------------------------------------------------------------------


def _fs(spark, path: str):
    jvm = spark.sparkContext._jvm
    p = jvm.org.apache.hadoop.fs.Path(path)
    return p.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), p


def _exists(spark, path: str) -> bool:
    fs, p = _fs(spark, path)
    return bool(fs.exists(p))


def _format(spark, path: str) -> str:
    """csv or parquet, from the name, or from the names of the files in a folder."""
    low = path.lower().rstrip("/")
    if low.endswith((".csv", ".csv.gz")):
        return "csv"
    if low.endswith((".parquet", ".pq")):
        return "parquet"
    fs, p = _fs(spark, path)
    names = [s.getPath().getName().lower() for s in fs.listStatus(p)] if fs.isDirectory(p) else []
    if any(n.endswith((".csv", ".csv.gz")) for n in names):
        return "csv"
    return "parquet"


def read_table(spark, path: str):
    """A Parquet or CSV file, or a folder of them, as a DataFrame (CSV: header row, text)."""
    if _format(spark, path) == "csv":
        return spark.read.option("header", True).option("escape", '"').csv(path)
    return spark.read.parquet(path)


def store_paths(spark, store: str) -> dict[str, str]:
    """The tables of a store folder: `<kind>.parquet`, `<kind>.csv` or a folder `<kind>/`."""
    found = {}
    for kind in TABLES:
        for name in (f"{kind}.parquet", f"{kind}.csv", kind):
            path = f"{store.rstrip('/')}/{name}"
            if _exists(spark, path):
                found[kind] = path
                break
    if "orders" not in found:
        raise DataError(
            "the store has no orders table",
            file=store,
            hint="orders.parquet, orders.csv or a folder orders/ of such files",
        )
    return found


def _ts(col: str) -> str:
    return f"unix_micros(try_cast({col} AS TIMESTAMP)) / 1e6"


def register_inputs(spark, paths: dict[str, str]) -> dict:
    """Register the views `tools.scoring.engine.sql` reads (lines, events, tickets, products) from
    the store's files. Returns what was found (which tables, optional columns, rows left out)."""
    o = read_table(spark, paths["orders"])
    cols = set(o.columns)
    missing = [c for c in ("customer_id", "order_date", "amount") if c not in cols]
    if missing:
        raise DataError(
            "the orders table has no such column",
            file=paths["orders"],
            column=missing[0],
            hint="Spark reads canonical columns (tools.schema)",
        )
    o.createOrReplaceTempView("_orders_src")

    def opt(name, cast="STRING"):
        return f"try_cast({name} AS {cast})" if name in cols else f"CAST(NULL AS {cast})"

    order_id = (
        "COALESCE(CAST(order_id AS STRING), CONCAT(customer_id, '@', order_date))"
        if "order_id" in cols
        else "CONCAT(customer_id, '@', order_date)"
    )
    placeholders = ", ".join("'" + p.replace("'", "''") + "'" for p in sorted(PLACEHOLDER_IDS))
    spark.sql(f"""
        SELECT TRIM(CAST(customer_id AS STRING)) AS customer_id, {order_id} AS order_id,
               {_ts("order_date")} AS ts, try_cast(amount AS DOUBLE) AS amount,
               {opt("discount", "DOUBLE")} AS discount, {opt("product_id")} AS product_id,
               {opt("product_name")} AS product_name, {opt("quantity", "DOUBLE")} AS quantity,
               COALESCE({opt("returned_in_full", "BOOLEAN")}, FALSE) AS flagged
        FROM _orders_src""").createOrReplaceTempView("_orders_typed")
    bad = f"""customer_id IS NULL OR ts IS NULL OR amount IS NULL OR isnan(amount)
             OR LOWER(customer_id) IN ({placeholders}) OR customer_id RLIKE '^0+$'"""
    spark.sql(f"SELECT * FROM _orders_typed WHERE NOT ({bad})").createOrReplaceTempView("raw_lines")
    spark.sql(f"SELECT * FROM _orders_typed WHERE {bad}").createOrReplaceTempView("_left_out")
    spark.sql(
        Q.returned_orders(has_product="product_id" in cols, has_quantity="quantity" in cols)
    ).createOrReplaceTempView("_returned")
    spark.sql("""
        SELECT l.customer_id, l.order_id, l.ts, CAST(FLOOR(l.ts / 86400) AS BIGINT) AS day,
               l.amount, l.discount, l.product_id, l.product_name,
               (l.flagged OR r.order_id IS NOT NULL) AS returned,
               l.amount >= 0 AND NOT (l.flagged OR r.order_id IS NOT NULL) AS buy
        FROM raw_lines l LEFT JOIN (SELECT DISTINCT order_id FROM _returned) r
             ON l.order_id = r.order_id""").createOrReplaceTempView("lines")
    found: dict[str, Any] = {"tables": sorted(paths), "order_columns": sorted(cols)}
    if "events" in paths:
        e = read_table(spark, paths["events"])
        e.createOrReplaceTempView("_events_src")
        spark.sql(f"""SELECT TRIM(CAST(customer_id AS STRING)) AS customer_id,
                             {_ts("timestamp")} AS ts, CAST(type AS STRING) AS type
                      FROM _events_src""").where("ts IS NOT NULL").createOrReplaceTempView("events")
    if "tickets" in paths:
        t = read_table(spark, paths["tickets"])
        t.createOrReplaceTempView("_tickets_src")
        tc = set(t.columns)
        spark.sql(f"""SELECT TRIM(CAST(customer_id AS STRING)) AS customer_id,
                             {_ts("opened_at")} AS opened,
                             {_ts("resolved_at") if "resolved_at" in tc else "CAST(NULL AS DOUBLE)"}
                                 AS resolved,
                             {"CAST(severity AS STRING)" if "severity" in tc else "''"} AS severity,
                             {
            "try_cast(sentiment AS DOUBLE)" if "sentiment" in tc else "CAST(NULL AS DOUBLE)"
        } AS sentiment,
                             {"CAST(text AS STRING)" if "text" in tc else "''"} AS text
                      FROM _tickets_src""").where("opened IS NOT NULL").createOrReplaceTempView(
            "tickets"
        )
    if "products" in paths:
        p = read_table(spark, paths["products"])
        p.createOrReplaceTempView("products_src")
        if {"product_id", "category"} <= set(p.columns):
            spark.sql("""SELECT CAST(product_id AS STRING) AS product_id,
                                MIN(CAST(category AS STRING)) AS category
                         FROM products_src GROUP BY CAST(product_id AS STRING)""").createOrReplaceTempView(
                "products"
            )
            found["categories"] = True
    return found


# --- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SparkScoreResult:
    out: str  # the Parquet folder of scores
    params: dict
    summary: dict
    top_at_risk: pd.DataFrame = field(default_factory=pd.DataFrame)


def score_spark(
    spark,
    paths: dict[str, str],
    *,
    out: str,
    as_of=None,
    horizon_days: int = 365,
    model: str = "auto",
    margin: float = 1.0,
    discount_rate: float = 0.0,
    seed: int = 0,
    sample_customers: int = SAMPLE_CUSTOMERS,
    progress=lambda _: None,
) -> SparkScoreResult:
    """Score every customer of the store at `paths` (`store_paths`) and write the scores as
    Parquet to `out` (module docstring). The columns are the embedded engine's."""
    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name):
        timings[name] = round(time.perf_counter() - t_start - sum(timings.values()), 2)

    progress("reading the store")
    found = register_inputs(spark, paths)
    spark.sql("CACHE TABLE lines")  # the files are read once
    size = spark.sql("SELECT COUNT(*) AS n, MAX(day) AS d FROM lines").first()  # one pass
    shuffle = "spark.sql.shuffle.partitions"
    spark.conf.set(shuffle, str(partitions_for(size["n"], at_least=int(spark.conf.get(shuffle)))))
    if as_of is None:
        last = size["d"]
        if last is None:
            raise DataError("no orders", file=paths["orders"])
        as_of = pd.Timestamp(int(last) * Q.DAY_S, unit="s")
    as_of = pd.Timestamp(as_of).normalize()
    t0 = int(as_of.value // (Q.DAY_S * 10**9))
    progress("aggregating orders per customer")
    for name, text in Q.statements(
        as_of_day=t0,
        has_events="events" in paths,
        has_tickets="tickets" in paths,
        has_categories=bool(found.get("categories")),
    ):
        spark.sql(text).createOrReplaceTempView(name)
        if name in CACHED:  # read again by later statements and steps: computed once
            spark.sql(f"CACHE TABLE {name}")
    customers = spark.table("customers")
    tot = spark.sql(Q.totals()).first().asDict()
    if not tot["customers"]:
        raise DataError(
            "no orders on or before the as-of date",
            column="order_date",
            hint=f"as_of is {as_of.date()}",
        )
    found["rows_left_out"] = int(spark.table("_left_out").count())
    purchase, spend, hist = small_results(spark)
    lap("aggregate")
    progress("fitting the purchase and value models on the compressed statistics")
    from tools.models import clv

    stats = rfm_from_statistics(
        purchase, spend, positive_revenue=float(tot["positive_revenue"] or 0)
    )
    params = clv.fit_clv(stats)
    lap("fit_clv")
    progress("training the ML model on a sample of customers")
    s_lines, s_events, s_tickets, products = sample_tables(
        spark, paths, n_customers=int(tot["customers"]), limit=sample_customers, seed=seed, t0=t0
    )
    sample = fit_on_sample(
        s_lines,
        as_of=as_of,
        horizon_days=horizon_days,
        model=model,
        seed=seed,
        events=s_events,
        tickets=s_tickets,
        products=products,
    )
    alt = [k for k, v in sample.choice.items() if v == ALT_PURCHASE]
    alt_params = clv.with_purchase_model(stats, params, ALT_PURCHASE) if alt else None
    if alt and alt_params is None:  # as tools.scoring.score: BG/NBD stands
        sample.choice.update({k: "bgnbd" for k in alt})
        sample.notes.append(
            f"The model choice picked {PURCHASE_MODEL_NAMES[ALT_PURCHASE]}, which "
            "then did not fit the store's orders up to as-of: customers are "
            "scored by the purchase model it could fit."
        )
    lap("fit_sample")
    progress("segments and clusters")
    gap_fill = (
        float(tot["median_gap"])
        if tot["median_gap"] is not None
        else float(max(tot["max_span"], 1))
    )
    thresholds = {
        c: QuintileThresholds.of(h["value"], h["n"], higher_is_better=c != "recency_days")
        for c, h in hist.items()
    }
    # the customers tools.insights.segments fits the embedded engine's clusters on: the
    # fit is then the same, and only `n_customers` tells it that this is a sample
    cl_where = sample_clause(int(tot["customers"]), CLUSTER_FIT_ROWS, seed)
    cl_rows = spark.sql(
        f"SELECT customer_id, {', '.join(CLUSTER_COLUMNS)} FROM customers WHERE {cl_where}"
    ).toPandas()
    clusters = (
        fit_clusters(
            cl_rows[list(CLUSTER_COLUMNS)],
            cl_rows["customer_id"],
            n_customers=int(tot["customers"]),
            seed=seed,
        )
        if len(cl_rows)
        else None
    )
    affinity = None
    if s_lines["product_id"].notna().any():
        from tools.insights.affinity import product_affinity

        affinity = product_affinity(s_lines[["customer_id", "order_id", "product_id", "amount"]])
    fitted = Fitted(
        as_of=as_of,
        horizon_days=horizon_days,
        margin=margin,
        discount_rate=discount_rate,
        seed=seed,
        params=params,
        sample=sample,
        alt_params=alt_params,
        rfm_gap_fill=gap_fill,
        recency=thresholds["recency_days"],
        frequency=thresholds["n_occasions"],
        monetary=thresholds["revenue_to_date"],
        clusters=clusters,
    )
    lap("fit_segments")
    progress("scoring every customer on the executors")
    scores = score_all(spark, customers, fitted, affinity=affinity, products=products, t0=t0)
    scores.write.mode("overwrite").parquet(out)
    lap("score_write")
    result = spark.read.parquet(out)
    summary, top, counts = summary_of(result)
    lap("summary")
    for name in (*CACHED, "lines"):
        spark.sql(f"UNCACHE TABLE IF EXISTS {name}")
    notes = list(sample.notes)
    if tot["refunds_only"]:
        n = int(tot["refunds_only"])
        notes.append(
            f"{n:,} customer{'s' if n > 1 else ''} had only returns (refunds) up to "
            f"{as_of.date()}: scored by the purchase model as customers without a "
            "repeat purchase."
        )
    if found["rows_left_out"]:
        notes.append(
            f"{found['rows_left_out']:,} order rows without a customer, date or amount "
            "(or with a placeholder customer id) were left out."
        )
    import json

    value_params = alt_params if sample.choice["value"] == ALT_PURCHASE else params
    assert value_params is not None  # a refused ALT_PURCHASE fit set the choice back to bgnbd
    out_params = {
        "engine": "spark",
        "spark_master": spark.sparkContext.master,
        "as_of": str(as_of.date()),
        "horizon_days": horizon_days,
        "model_requested": model,
        "model_choice": sample.choice,
        "model_counts": counts,
        "margin": margin,
        "discount_rate": discount_rate,
        "probabilistic": {
            **json.loads(value_params.to_json()),
            "interval_calibration": sample.calibration,
        },
        "ml": sample.ml_info,
        "clusters": clusters.descriptions if clusters else {},
        "driver": {
            "compressed_rows": len(purchase),
            "spend_rows": len(spend),
            "sample_customers": int(s_lines["customer_id"].nunique()),
            "sample_lines": len(s_lines),
            "cluster_rows": len(cl_rows),
            "histogram_rows": {c: len(h) for c, h in hist.items()},
        },
        "inputs": found,
        "timings_s": timings,
        "warnings": notes,
    }
    return SparkScoreResult(out, out_params, summary, top)
