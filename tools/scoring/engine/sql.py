"""The per-customer aggregation as SQL: one text for every engine that runs it.

The same definitions as the embedded engine's numpy code, which the tests hold it to
(`tests/tools/test_spark.py` compares every column with `tools.models.rfm.rfm_summary` and
`tools.models.features.build_features` on a demo store):

- a purchase occasion is one customer on one calendar day with a purchase line (amount >= 0,
  not of an order returned in full: `tools.schema.purchase_mask`); its value is the day's sum
  of those lines (the BG/NBD convention, DESIGN.md "Data in");
- RFM (`tools.models.rfm.rfm_summary`): frequency = occasions - 1, recency = last - first occasion,
  T = as-of - first occasion, in days; monetary_value = mean value of the repeat occasions;
  a customer whose lines are all refunds has recency 0 and T from the first day of the data;
- the features of `tools.models.features.build_features` that come from orders, events, tickets
  and products (its occasions are the days with a line of amount >= 0: it does not read
  `returned_in_full`, so an order returned in full is an occasion there, and here too);
  and the compressed sufficient statistics of the purchase model (identical
  (frequency, recency, T) rows with their count, `tools.models.clv_fit.compress`) and of the spend
  model (identical (frequency, monetary_value) rows of repeat customers).

The statements read four views that the engine registers from its files (`INPUT_VIEWS`),
with times as numbers so that no date function (they differ between engines) is needed:
`day` is whole days since 1970-01-01 (UTC), `ts` seconds since then. A statement is a
plain SELECT (joins, GROUP BY, CASE, window functions LAG/ROW_NUMBER, MEDIAN, MIN_BY,
STDDEV_SAMP) that Spark SQL runs as it is; they keep to what DuckDB also speaks, with
`Dialect("duckdb")` for the two functions that differ (a regex match, a sorted string
aggregate), but only Spark runs them in the tests (the embedded engine is pandas/numpy).
"""

from __future__ import annotations

from dataclasses import dataclass

from tools.models.features import NO_HISTORY_DAYS, QUALITY_WORDS

DAY_S = 86_400
INPUT_VIEWS = {
    "lines": (
        "customer_id",
        "order_id",
        "ts",
        "day",
        "amount",
        "discount",
        "product_id",
        "product_name",
        "buy",
    ),
    "events": ("customer_id", "ts", "type"),
    "tickets": ("customer_id", "opened", "resolved", "severity", "sentiment", "text"),
    "products": ("product_id", "category"),
}
SEVERE = ("high", "urgent", "critical", "severe")  # as tools.models.features._ticket_features
RFM_SQL_COLUMNS = (
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "orders_to_date",
    "revenue_to_date",
    "avg_gap",
    "rfm_span",
)
ORDER_FEATURES = (
    "n_occasions",
    "one_time",
    "recency_days",
    "tenure_days",
    "avg_gap_days",
    "gap_cv",
    "last_gap_days",
    "overdue_ratio",
    "avg_order_value",
    "occasions_90d",
    "occasion_trend",
    "revenue_trend",
    "discount_share",
    "last_order_discounted",
    "revenue_to_date",
    "discount_rate",
    "return_lines",
    "return_share",
    "returns_90d",
)
TICKET_FEATURES = (
    "tickets",
    "quality_tickets",
    "unresolved_tickets",
    "unresolved_severe",
    "min_sentiment",
    "days_since_ticket",
)
EVENT_FEATURES = (
    "events_30d",
    "events_90d",
    "engagement_trend",
    "clicks_90d",
    "engagement_fade",
    "days_since_event",
)
CATEGORY_FEATURES = ("categories", "top_category_share")
FEATURES = ORDER_FEATURES + TICKET_FEATURES + EVENT_FEATURES + CATEGORY_FEATURES


@dataclass(frozen=True)
class Dialect:
    """What differs between the engines that run these statements: the regex match."""

    name: str = "spark"

    def matches(self, column: str, pattern: str) -> str:
        if "'" in pattern or "\\" in pattern:
            raise ValueError("the pattern must not need escaping in a SQL literal")
        if self.name == "duckdb":
            return f"regexp_matches(COALESCE({column}, ''), '(?i){pattern}')"
        return f"(COALESCE({column}, '') RLIKE '(?i){pattern}')"

    def sorted_concat(self, column: str) -> str:
        """An aggregate: the group's values sorted and joined (a multiset, as text)."""
        if self.name == "duckdb":
            return f"string_agg({column}, ',' ORDER BY {column})"
        return f"array_join(array_sort(collect_list({column})), ',')"


def returned_orders(*, has_product: bool, has_quantity: bool, dialect: Dialect = Dialect()) -> str:
    """Sale orders given back in full by a later return of the same customer (the rule of
    the embedded loader, `tools.ingest.validate._fully_returned_orders`): a return order (all lines
    negative) whose items (product, quantity, amount; without products the amount) are
    those of a sale order on or before it marks that sale; each return marks the latest such
    sale, each sale is marked once. Reads the view `raw_lines`; returns `order_id`s."""
    item = "CAST(ROUND(ABS(amount), 4) AS STRING)"
    if has_quantity:
        item = f"CONCAT(CAST(ABS(quantity) AS STRING), 'x', {item})"
    if has_product:
        item = f"CONCAT(COALESCE(CAST(product_id AS STRING), ''), '|', {item})"
    return f"""
        WITH sig AS (
            SELECT order_id, MIN(customer_id) AS customer_id, MIN(ts) AS ts,
                   MIN(SIGN(amount)) AS sign_min, MAX(SIGN(amount)) AS sign_max,
                   {dialect.sorted_concat(item)} AS items
            FROM raw_lines GROUP BY order_id),
        pairs AS (
            SELECT r.order_id AS order_r, b.order_id AS order_b, r.ts AS ts_r, b.ts AS ts_b
            FROM sig r JOIN sig b ON r.customer_id = b.customer_id AND r.items = b.items
            WHERE r.sign_max < 0 AND b.sign_min >= 0 AND b.sign_max > 0 AND b.ts <= r.ts),
        latest AS (
            SELECT *, ROW_NUMBER() OVER (PARTITION BY order_r ORDER BY ts_b DESC) AS k
            FROM pairs),
        once AS (
            SELECT order_b, ROW_NUMBER() OVER (PARTITION BY order_b ORDER BY ts_r, ts_b DESC)
                       AS k
            FROM latest WHERE k = 1)
        SELECT order_b AS order_id FROM once WHERE k = 1"""


def statements(
    *,
    as_of_day: int,
    has_events: bool,
    has_tickets: bool,
    has_categories: bool,
    dialect: Dialect = Dialect(),
) -> list[tuple[str, str]]:
    """(view name, SELECT) in the order to register them. The last, `customers`, has one row
    per customer with a line on or before the as-of day: RFM_SQL_COLUMNS (avg_gap: NULL for
    fewer than two occasions, the population's fill is applied when scoring; rfm_span: as-of
    minus the first purchase, or first line) and FEATURES, numbers as DOUBLE."""
    t0 = int(as_of_day)
    a0 = t0 * DAY_S  # the as-of day's midnight, in seconds
    end = (
        a0 + DAY_S
    )  # tools.models.features keeps events and tickets up to as_of + 1 day, inclusive
    nh = float(NO_HISTORY_DAYS)
    out = [
        ("_lines_upto", f"SELECT * FROM lines WHERE day <= {t0}"),
        # one row a customer and day with a line of amount >= 0: the occasions of the
        # features (tools.models.features.build_features counts every such day, also one whose
        # lines an order returned in full took back); bvalue and isbuy: the purchase lines
        # only (tools.schema.purchase_mask), the occasions of the RFM (tools.models.rfm.rfm_summary)
        (
            "_occ",
            """
            SELECT customer_id, day, SUM(amount) AS value,
                   MAX(CASE WHEN discount > 0 THEN 1 ELSE 0 END) AS disc,
                   SUM(CASE WHEN buy THEN amount ELSE 0 END) AS bvalue,
                   MAX(CASE WHEN buy THEN 1 ELSE 0 END) AS isbuy
            FROM _lines_upto WHERE amount >= 0 GROUP BY customer_id, day""",
        ),
        (
            "_occ_seq",
            """
            SELECT customer_id, day, value, disc,
                   day - LAG(day) OVER (PARTITION BY customer_id ORDER BY day) AS gap,
                   ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY day DESC) AS kr
            FROM _occ""",
        ),
        (
            "_by_occ",
            f"""
            SELECT customer_id, COUNT(*) AS n, MIN(day) AS first_day, MAX(day) AS last_day,
                   SUM(value) AS value_sum, SUM(disc) AS disc_sum,
                   MAX(CASE WHEN kr = 1 THEN disc ELSE 0 END) AS last_disc,
                   MAX(CASE WHEN kr = 1 THEN gap END) AS last_gap,
                   STDDEV_SAMP(gap) AS gap_std,
                   SUM(CASE WHEN day > {t0 - 90} THEN 1 ELSE 0 END) AS occ_90,
                   SUM(CASE WHEN day > {t0 - 180} AND day <= {t0 - 90} THEN 1 ELSE 0 END)
                       AS occ_prior,
                   SUM(CASE WHEN day > {t0 - 180} THEN value ELSE 0 END) AS rev_recent,
                   SUM(CASE WHEN day > {t0 - 360} AND day <= {t0 - 180} THEN value ELSE 0 END)
                       AS rev_prior
            FROM _occ_seq GROUP BY customer_id""",
        ),
        (
            "_by_buy",
            """
            SELECT customer_id, COUNT(*) AS nb, MIN(day) AS bfirst, MAX(day) AS blast,
                   SUM(bvalue) AS bsum, MIN_BY(bvalue, day) AS bfirst_value
            FROM _occ WHERE isbuy = 1 GROUP BY customer_id""",
        ),
        (
            "_by_line",
            f"""
            SELECT customer_id, SUM(amount) AS revenue, MIN(day) AS first_line_day,
                   SUM(COALESCE(discount, 0)) AS disc_amt,
                   SUM(GREATEST(amount, 0)) AS bought,
                   SUM(CASE WHEN amount < 0 THEN 1 ELSE 0 END) AS return_lines,
                   SUM(CASE WHEN amount < 0 THEN -amount ELSE 0 END) AS returned,
                   SUM(CASE WHEN amount < 0 AND ts > {a0 - 90 * DAY_S} THEN 1 ELSE 0 END)
                       AS returns_90d
            FROM _lines_upto GROUP BY customer_id""",
        ),
        (
            "_base",
            """
            SELECT l.customer_id, CAST(COALESCE(o.n, 0) AS DOUBLE) AS n,
                   COALESCE(o.first_day, l.first_line_day) AS first_day,
                   COALESCE(o.last_day, l.first_line_day) AS last_day,
                   COALESCE(o.value_sum, 0) AS value_sum,
                   COALESCE(o.disc_sum, 0) AS disc_sum, COALESCE(o.last_disc, 0) AS last_disc,
                   o.last_gap, o.gap_std, COALESCE(o.occ_90, 0) AS occ_90,
                   COALESCE(o.occ_prior, 0) AS occ_prior, COALESCE(o.rev_recent, 0) AS rev_recent,
                   COALESCE(o.rev_prior, 0) AS rev_prior,
                   CAST(COALESCE(b.nb, 0) AS DOUBLE) AS nb,
                   COALESCE(b.bfirst, l.first_line_day) AS bfirst,
                   COALESCE(b.blast, l.first_line_day) AS blast,
                   COALESCE(b.bsum, 0) AS bsum, COALESCE(b.bfirst_value, 0) AS bfirst_value,
                   l.first_line_day, l.revenue, l.disc_amt, l.bought, l.return_lines, l.returned,
                   l.returns_90d
            FROM _by_line l LEFT JOIN _by_occ o ON l.customer_id = o.customer_id
                 LEFT JOIN _by_buy b ON l.customer_id = b.customer_id""",
        ),
        (
            "_gap",
            """
            SELECT *, CASE WHEN n > 1 THEN CAST(last_day - first_day AS DOUBLE) / (n - 1) END
                          AS favg_gap,
                      CASE WHEN nb > 1 THEN CAST(blast - bfirst AS DOUBLE) / (nb - 1) END
                          AS avg_gap
            FROM _base""",
        ),
        # the population's median gap fills the gap of a customer with fewer than two
        # occasions (build_features: 90 days when nobody has bought twice); the first day
        # of the data is where a customer with refunds only is observed from (rfm_summary)
        (
            "_pop",
            """
            SELECT COALESCE(MEDIAN(favg_gap), 90.0) AS pop_gap, MIN(first_line_day) AS data_first
            FROM _gap""",
        ),
        (
            "_orders",
            f"""
            SELECT g.customer_id,
                   CAST(GREATEST(g.nb - 1, 0) AS BIGINT) AS frequency,
                   CAST(g.blast - g.bfirst AS DOUBLE) AS recency,
                   CAST({t0} - CASE WHEN g.nb > 0 THEN g.bfirst ELSE p.data_first END AS DOUBLE)
                       AS T,
                   CASE WHEN g.nb > 1 THEN (g.bsum - g.bfirst_value) / (g.nb - 1) ELSE 0.0 END
                       AS monetary_value,
                   CAST(g.nb AS BIGINT) AS orders_to_date, g.revenue AS revenue_to_date, g.avg_gap,
                   CAST({t0} - g.bfirst AS DOUBLE) AS rfm_span,
                   g.n AS n_occasions, CASE WHEN g.n = 1 THEN 1.0 ELSE 0.0 END AS one_time,
                   CAST({t0} - g.last_day AS DOUBLE) AS recency_days,
                   CAST({t0} - g.first_day AS DOUBLE) AS tenure_days,
                   COALESCE(g.favg_gap, p.pop_gap) AS avg_gap_days,
                   CASE WHEN g.n > 2 AND g.gap_std IS NOT NULL AND g.favg_gap > 0
                        THEN g.gap_std / g.favg_gap ELSE 0.0 END AS gap_cv,
                   CASE WHEN g.n > 1 THEN CAST(g.last_gap AS DOUBLE) ELSE {nh} END AS last_gap_days,
                   ({t0} - g.last_day) / GREATEST(COALESCE(g.favg_gap, p.pop_gap), 1.0)
                       AS overdue_ratio,
                   g.value_sum / GREATEST(g.n, 1.0) AS avg_order_value,
                   CAST(g.occ_90 AS DOUBLE) AS occasions_90d,
                   CAST(g.occ_90 - g.occ_prior AS DOUBLE) AS occasion_trend,
                   g.rev_recent - g.rev_prior AS revenue_trend,
                   g.disc_sum / GREATEST(g.n, 1.0) AS discount_share,
                   CAST(g.last_disc AS DOUBLE) AS last_order_discounted,
                   g.disc_amt / GREATEST(g.bought + g.disc_amt, 1e-9) AS discount_rate,
                   CAST(g.return_lines AS DOUBLE) AS return_lines,
                   LEAST(g.returned / GREATEST(g.bought, 1e-9), 5.0) AS return_share,
                   CAST(g.returns_90d AS DOUBLE) AS returns_90d
            FROM _gap g CROSS JOIN _pop p""",
        ),
    ]
    joins, cols = [], []
    if has_tickets:
        quality = dialect.matches("text", QUALITY_WORDS)
        severe = ", ".join(f"'{s}'" for s in SEVERE)
        out += [
            (
                "_tk",
                f"""
                SELECT customer_id, opened, sentiment, {quality} AS q,
                       (resolved IS NOT NULL AND resolved <= {end}) AS res,
                       LOWER(CAST(severity AS STRING)) IN ({severe}) AS severe
                FROM tickets WHERE opened <= {end}""",
            ),
            (
                "_by_ticket",
                """
                SELECT customer_id,
                       SUM(CASE WHEN q THEN 1 ELSE 0 END) AS quality_tickets,
                       SUM(CASE WHEN q THEN 0 ELSE 1 END) AS tickets,
                       SUM(CASE WHEN NOT q AND NOT res THEN 1 ELSE 0 END) AS unresolved_tickets,
                       SUM(CASE WHEN NOT q AND NOT res AND severe THEN 1 ELSE 0 END)
                           AS unresolved_severe,
                       MIN(CASE WHEN q THEN NULL ELSE sentiment END) AS min_sentiment,
                       MAX(CASE WHEN q THEN NULL ELSE opened END) AS last_opened
                FROM _tk GROUP BY customer_id""",
            ),
        ]
        joins.append("LEFT JOIN _by_ticket t ON c.customer_id = t.customer_id")
        cols += [
            "CAST(COALESCE(t.tickets, 0) AS DOUBLE) AS tickets",
            "CAST(COALESCE(t.quality_tickets, 0) AS DOUBLE) AS quality_tickets",
            "CAST(COALESCE(t.unresolved_tickets, 0) AS DOUBLE) AS unresolved_tickets",
            "CAST(COALESCE(t.unresolved_severe, 0) AS DOUBLE) AS unresolved_severe",
            "CAST(COALESCE(t.min_sentiment, 0) AS DOUBLE) AS min_sentiment",
            f"COALESCE(CAST(FLOOR(({a0} - t.last_opened) / {DAY_S}) AS DOUBLE), {nh}) "
            "AS days_since_ticket",
        ]
    else:
        cols += [f"{nh if c == 'days_since_ticket' else 0.0} AS {c}" for c in TICKET_FEATURES]
    if has_events:
        out += [
            (
                "_by_event",
                f"""
            SELECT customer_id,
                   SUM(CASE WHEN age <= 30 THEN 1 ELSE 0 END) AS events_30d,
                   SUM(CASE WHEN age <= 90 THEN 1 ELSE 0 END) AS events_90d,
                   SUM(CASE WHEN age > 90 AND age <= 180 THEN 1 ELSE 0 END) AS events_prior,
                   SUM(CASE WHEN age <= 90 AND type = 'email_click' THEN 1 ELSE 0 END)
                       AS clicks_90d,
                   SUM(CASE WHEN before >= -30 AND before <= 90 THEN 1 ELSE 0 END) AS near,
                   SUM(CASE WHEN before > 90 AND before <= 270 THEN 1 ELSE 0 END) AS far,
                   MIN(age) AS newest
            FROM (SELECT e.customer_id, e.type, FLOOR(({a0} - e.ts) / {DAY_S}) AS age,
                         ({a0} - e.ts) / {DAY_S} - c.recency_days AS before
                  FROM events e JOIN _orders c ON e.customer_id = c.customer_id
                  WHERE e.ts <= {end}) x
            GROUP BY customer_id""",
            )
        ]
        joins.append("LEFT JOIN _by_event e ON c.customer_id = e.customer_id")
        cols += [
            "CAST(COALESCE(e.events_30d, 0) AS DOUBLE) AS events_30d",
            "CAST(COALESCE(e.events_90d, 0) AS DOUBLE) AS events_90d",
            "CAST(COALESCE(e.events_90d - e.events_prior, 0) AS DOUBLE) AS engagement_trend",
            "CAST(COALESCE(e.clicks_90d, 0) AS DOUBLE) AS clicks_90d",
            "COALESCE(GREATEST(e.far / 2.0 - e.near, 0.0), 0.0) AS engagement_fade",
            f"COALESCE(CAST(e.newest AS DOUBLE), {nh}) AS days_since_event",
        ]
    else:
        cols += [f"{nh if c == 'days_since_event' else 0.0} AS {c}" for c in EVENT_FEATURES]
    if has_categories:
        out += [
            (
                "_cust_cat",
                """
                SELECT l.customer_id, p.category, COUNT(*) AS k
                FROM _lines_upto l JOIN products p ON l.product_id = p.product_id
                WHERE l.amount > 0 AND p.category IS NOT NULL
                GROUP BY l.customer_id, p.category""",
            ),
            (
                "_by_cat",
                """
                SELECT customer_id, COUNT(*) AS categories,
                       CAST(MAX(k) AS DOUBLE) / SUM(k) AS top_category_share
                FROM _cust_cat GROUP BY customer_id""",
            ),
        ]
        joins.append("LEFT JOIN _by_cat k ON c.customer_id = k.customer_id")
        cols += [
            "CAST(COALESCE(k.categories, 0) AS DOUBLE) AS categories",
            "COALESCE(k.top_category_share, 0.0) AS top_category_share",
        ]
    else:
        cols += [f"0.0 AS {c}" for c in CATEGORY_FEATURES]
    out.append(("_customers", f"SELECT c.*, {', '.join(cols)} FROM _orders c " + " ".join(joins)))
    # every number as a double (a literal such as 1.0 is a DECIMAL in SQL), counts as integers
    typed = (
        ["customer_id", "frequency", "orders_to_date"]
        + [
            f"CAST({c} AS DOUBLE) AS {c}"
            for c in ("recency", "T", "monetary_value", "revenue_to_date", "avg_gap", "rfm_span")
        ]
        + [f"CAST({c} AS DOUBLE) AS {c}" for c in FEATURES if c != "revenue_to_date"]
    )
    out.append(("customers", f"SELECT {', '.join(typed)} FROM _customers"))
    return out


def compressed_rows() -> str:
    """The purchase model's sufficient statistics: identical (frequency, recency, T) rows of
    the customers with a purchase occasion, with their count (`tools.models.clv_fit.compress`)."""
    return """
        SELECT frequency, recency, T, COUNT(*) AS weight FROM customers
        WHERE orders_to_date > 0 GROUP BY frequency, recency, T"""


def spend_rows() -> str:
    """The spend model's: identical (frequency, monetary_value) rows of repeat customers with
    a positive mean repeat value (what `tools.models.clv.fit_clv` fits Gamma-Gamma on)."""
    return """
        SELECT frequency, monetary_value, COUNT(*) AS weight FROM customers
        WHERE frequency > 0 AND monetary_value > 0 GROUP BY frequency, monetary_value"""


def totals() -> str:
    """Store-level numbers the fits and the notes need, in one row."""
    return """
        SELECT COUNT(*) AS customers,
               SUM(CASE WHEN orders_to_date = 0 THEN 1 ELSE 0 END) AS refunds_only,
               SUM(orders_to_date) AS occasions,
               SUM(GREATEST(revenue_to_date, 0)) AS positive_revenue,
               MEDIAN(avg_gap) AS median_gap, MAX(rfm_span) AS max_span
        FROM customers"""


def histogram(column: str, *, where: str = "TRUE") -> str:
    """Distinct values of a column with their counts (the RFM quintiles are read from it)."""
    return f"SELECT {column} AS value, COUNT(*) AS n FROM customers WHERE {where} GROUP BY {column}"
