"""Customer segments: RFM scores and named segments, CLV tiers, behavioural clusters, migration.

- RFM (recency, frequency, monetary) after Hughes, *Strategic Database Marketing* (1994):
  each dimension scored 1..5 by quintile of the customer base, then mapped to the eleven
  named segments of the common R x FM grid (Putler's "RFM segments", see `SEGMENT_GRID`).
- Behavioural clusters: k-means (Lloyd 1982) on standardised features, fitted on a sample of
  customers drawn by id for large N, k chosen by the silhouette coefficient (Rousseeuw 1987).

Everything is vectorised (numpy / pandas / scikit-learn); no per-customer Python loops.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tools.errors import DataError
from tools.ingest.keys import factorize_sorted
from tools.schema import CLV_TIERS, SEGMENTS, purchase_mask

# Rows: r_score 5 (most recent) .. 1; columns: fm_score 1 .. 5.
SEGMENT_GRID = {
    5: ("New", "Potential loyalist", "Potential loyalist", "Champions", "Champions"),
    4: ("Promising", "Potential loyalist", "Loyal", "Champions", "Champions"),
    3: ("About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"),
    2: ("Hibernating", "Hibernating", "At risk", "At risk", "Can't lose them"),
    1: ("Lost", "Lost", "At risk", "Can't lose them", "Can't lose them"),
}
NEW_SEGMENT = "(new)"
GONE_SEGMENT = "(gone)"
_DAY = np.timedelta64(1, "D")


# --- RFM ---------------------------------------------------------------------------------


def rfm_table(orders: pd.DataFrame, *, as_of) -> pd.DataFrame:
    """Recency, frequency and monetary value per customer from the orders up to `as_of`.

    `as_of` is a day and is inclusive (every line dated that day counts). Returns one row per
    customer with at least one purchase line (amount >= 0) by then, sorted by customer_id:

    - `recency_days`: whole days from the last purchase day to `as_of` (0 = bought that day);
    - `frequency`: distinct purchase days (the occasion convention of BG/NBD, Fader, Hardie
      & Lee 2005: several orders on one day are one occasion);
    - `monetary`: net revenue, purchases minus refunds (negative lines) up to `as_of`.

    A customer whose only lines are refunds has no purchase and no row.
    """
    _require(orders, ("customer_id", "order_date", "amount"))
    as_of = pd.Timestamp(as_of).normalize()
    cutoff = as_of + pd.Timedelta(days=1)
    dates = orders["order_date"].to_numpy()
    keep = dates < cutoff.to_datetime64()
    codes, uniques = factorize_sorted(orders["customer_id"].to_numpy()[keep])
    amount = orders["amount"].to_numpy(dtype=float)[keep]
    day = dates[keep].astype("datetime64[D]").astype(np.int64)
    n = len(uniques)
    monetary = np.bincount(codes, weights=amount, minlength=n)
    buy = purchase_mask(orders)[keep]
    bc, bd = codes[buy], day[buy]
    if len(bd):
        d0 = bd.min()
        span = int(bd.max() - d0) + 1
        occ = pd.unique(bc.astype(np.int64) * span + (bd - d0))
        frequency = np.bincount(occ // span, minlength=n)
        last = np.full(n, np.iinfo(np.int64).min)
        np.maximum.at(last, bc, bd)
    else:
        frequency = np.zeros(n, dtype=np.int64)
        last = np.zeros(n, dtype=np.int64)
    t0 = as_of.to_datetime64().astype("datetime64[D]").astype(np.int64)
    has = frequency > 0
    return pd.DataFrame(
        {
            "customer_id": np.asarray(uniques, dtype=object)[has],
            "recency_days": (t0 - last[has]).astype(np.int64),
            "frequency": frequency[has].astype(np.int64),
            "monetary": monetary[has],
        }
    )


def quintile_scores(values, *, higher_is_better: bool = True) -> np.ndarray:
    """Scores 1..5 by quintile of the empirical distribution, ties kept together.

    A value's score is 1 + floor(5 x p), capped at 5, where p = (number of customers with a
    strictly worse value) / (n - 1): the lowest value always scores 1, the best 5, equal
    values always share a score (no arbitrary tie-breaking by row order), and with n distinct
    values the scores are exact quintiles. With few distinct values (most customers buying
    once) the big tied block gets the score of its lowest member, e.g. every one-time buyer
    F = 1. A column with a single distinct value carries no information: everyone scores 3.
    """
    v = np.asarray(values, dtype=float)
    if not higher_is_better:
        v = -v
    n = len(v)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    sorted_v = np.sort(v)
    if sorted_v[0] == sorted_v[-1]:
        return np.full(n, 3, dtype=np.int64)
    below = np.searchsorted(sorted_v, v, side="left")
    return np.minimum(1 + np.floor(5.0 * below / (n - 1)).astype(np.int64), 5)


def rfm_scores(rfm: pd.DataFrame) -> pd.DataFrame:
    """Add r_score, f_score, m_score (1..5), fm_score and the named `segment`.

    Scores are quintiles of the customer base (`quintile_scores`; recency: fewer days is
    better). fm_score = (f_score + m_score) / 2 rounded half up. The segment is read from the
    R x FM grid below (Putler's eleven RFM segments, made non-overlapping):

        r \\ fm   1               2                   3                   4                5
        5        New             Potential loyalist  Potential loyalist  Champions        Champions
        4        Promising       Potential loyalist  Loyal               Champions        Champions
        3        About to sleep  About to sleep      Need attention      Loyal            Loyal
        2        Hibernating     Hibernating         At risk             At risk          Can't lose them
        1        Lost            Lost                At risk             Can't lose them  Can't lose them

    Every customer gets exactly one segment. The input is not modified.
    """
    _require(rfm, ("customer_id", "recency_days", "frequency", "monetary"))
    r = quintile_scores(rfm["recency_days"].to_numpy(), higher_is_better=False)
    f = quintile_scores(rfm["frequency"].to_numpy())
    m = quintile_scores(rfm["monetary"].to_numpy())
    fm = (f + m + 1) // 2
    grid = np.array([SEGMENT_GRID[score] for score in (1, 2, 3, 4, 5)], dtype=object)
    segment = grid[r - 1, fm - 1] if len(r) else np.array([], dtype=object)
    return rfm.assign(r_score=r, f_score=f, m_score=m, fm_score=fm, segment=segment)


# --- CLV tiers ---------------------------------------------------------------------------


def clv_tiers(values: pd.Series, *, cuts: tuple[float, float] = (0.5, 0.8)) -> pd.Series:
    """'low' / 'medium' / 'high' by percentile rank of (predicted) CLV.

    With the default cuts the bottom 50% are low, the next 30% medium and the top 20% high.
    The percentile of a value is the share of values strictly below it, so ties share a
    tier (a block of equal values falls to the tier of its lowest member). NaN ranks lowest.
    Returns a Series on the input's index; the input is not modified.
    """
    lo, hi = (float(c) for c in cuts)
    if not 0.0 < lo < hi < 1.0:
        raise ValueError(f"cuts must satisfy 0 < low < high < 1; got {cuts!r}")
    v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    v = np.where(np.isnan(v), -np.inf, v)
    n = len(v)
    pct = np.searchsorted(np.sort(v), v, side="left") / max(n, 1)
    top, middle, bottom = CLV_TIERS
    tier = np.where(pct >= hi, top, np.where(pct >= lo, middle, bottom))
    return pd.Series(tier, index=pd.Series(values).index, name="clv_tier", dtype=object)


# --- behavioural clusters ----------------------------------------------------------------

# feature -> (word when high, word when low); `True` marks the core buyer words
_WORDS: dict[str, tuple[str | None, str | None, bool]] = {
    "recency_days": ("lapsed", "recent", True),
    "frequency": ("frequent", "infrequent", True),
    "n_occasions": ("frequent", "infrequent", True),
    "orders_to_date": ("frequent", "infrequent", True),
    "monetary": ("high-spend", "low-spend", True),
    "revenue_to_date": ("high-spend", "low-spend", True),
    "avg_order_value": ("high-basket", "low-basket", True),
    "tenure_days": ("long-standing", "newer", True),
    "discount_share": ("discount-heavy", "full-price", False),
    "discount_rate": ("discount-heavy", "full-price", False),
    "return_share": ("return-prone", None, False),
    "return_lines": ("return-prone", None, False),
    "events_90d": ("engaged", "quiet", False),
    "events_30d": ("engaged", "quiet", False),
}
_SILHOUETTE_SAMPLE = 4000
CLUSTER_FIT_ROWS = 20_000  # above this many customers the clusters are fitted on a sample
_STANDOUT = 0.5  # a centroid this many standard deviations from the mean is described
CLUSTER_COLUMNS = (
    "recency_days",
    "n_occasions",
    "avg_order_value",
    "discount_share",
    "return_share",
    "events_90d",
)  # the features (`tools.models.features`) the scores' behavioural clusters are made of


@dataclass
class ClusterFit:
    """Behavioural clusters as fitted: the scaling of `standardisation` with the fitted rows'
    statistics, the centre of each cluster in that space, and the clusters in words."""

    columns: tuple[str, ...]
    median: np.ndarray
    skewed: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    centres: np.ndarray
    descriptions: dict[int, str] = field(default_factory=dict)

    def assign(self, frame: pd.DataFrame) -> np.ndarray:
        """The nearest cluster of every row of `frame` (which has the fitted columns)."""
        x = frame[list(self.columns)].to_numpy(float, copy=True)
        x = np.where(np.isnan(x), self.median, x)
        x[:, self.skewed] = np.sign(x[:, self.skewed]) * np.log1p(np.abs(x[:, self.skewed]))
        return _nearest((x - self.mean) / self.std, self.centres)


def behaviour_clusters(
    features: pd.DataFrame, *, k: int | None = None, seed: int = 0, ids=None
) -> tuple[pd.Series, dict[int, str]]:
    """Group customers by behaviour with k-means; describe each group in words.

    Numeric columns are used; a right-skewed column (skewness > 1) is log-transformed
    (sign(x) log(1 + |x|)), NaN is filled with the median, and every column is standardised
    (z-scores). KMeans (k-means++, Arthur & Vassilvitskii 2007; best of 10 starts) is fitted,
    and every customer goes to the nearest centre. Above `CLUSTER_FIT_ROWS` customers the
    scaling and the centres are fitted on a sample of about that many: the customers that
    `tools.ingest.keys.hashed_sample` draws by their ids (`ids`, default the index), in id
    order, so the clusters do not depend on the rows' order and the Spark engine, which
    draws the same customers (`tools.scoring.engine.spark_jobs.sample_clause`), fits the
    same ones. When `k` is None it is the k in 3..6 with the best silhouette coefficient
    (Rousseeuw 1987) on a random sample of at most 4,000 of the fitted rows.
    Labels are renumbered by cluster size (0 = largest), so they are deterministic for a
    seed. A description names the features whose cluster mean is at least 0.5 standard
    deviations from the fitted rows' mean ("very" from 1.5), strongest first, with the
    cluster's share of the fitted rows, e.g. "frequent, high-spend, recent buyers;
    discount-heavy (12% of customers)".

    Returns (labels on the input's index, {label: description}).
    """
    num = features.select_dtypes(include="number")
    num = num.loc[:, num.notna().any()]
    if len(num) == 0 or num.shape[1] == 0:
        return pd.Series(0, index=features.index, name="cluster", dtype=np.int64), (
            {0: "all customers"} if len(num) else {}
        )
    keys = np.asarray(features.index if ids is None else ids, dtype=object).astype(str)
    fit = fit_clusters(num, keys, k=k, seed=seed)
    if fit is None:
        return pd.Series(0, index=features.index, name="cluster", dtype=np.int64), {
            0: "all customers alike"
        }
    return pd.Series(fit.assign(num), index=features.index, name="cluster"), fit.descriptions


def fit_clusters(
    num: pd.DataFrame,
    ids,
    *,
    k: int | None = None,
    seed: int = 0,
    n_customers: int | None = None,
) -> ClusterFit | None:
    """The `ClusterFit` of `behaviour_clusters` on the table `num` whose customers are `ids`,
    of a store of `n_customers` (default: these are all): the fitted sample is drawn from
    them, so a table of the sample alone gives the same fit. None when the fitted rows are
    all alike or there is no numeric column."""
    # imported before the thread limit is set, so that the limit applies to their OpenMP
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from threadpoolctl import threadpool_limits

    from tools.ingest.keys import hashed_sample

    num = num.select_dtypes(include="number")
    num = num.loc[:, num.notna().any()]
    if len(num) == 0 or num.shape[1] == 0:
        return None
    n = len(num) if n_customers is None else int(n_customers)
    rows = np.flatnonzero(hashed_sample(ids, n_customers=n, limit=CLUSTER_FIT_ROWS, seed=seed))
    rows = rows[np.argsort(np.asarray(ids, dtype=object)[rows].astype(str), kind="stable")]
    z, med, skewed, mean, std = standardisation(num.iloc[rows])
    distinct = len(np.unique(z, axis=0))
    if distinct < 2:
        return None
    rng = np.random.default_rng(seed)
    with threadpool_limits(1), warnings.catch_warnings():
        # one thread: faster on small fits, same answer on any machine
        warnings.simplefilter("ignore")
        if k is None:
            m = len(z)
            sample = (
                z[rng.choice(m, _SILHOUETTE_SAMPLE, replace=False)] if m > _SILHOUETTE_SAMPLE else z
            )
            best = (-2.0, 0)
            for kk in range(3, 7):
                if kk >= min(len(np.unique(sample, axis=0)), len(sample)):
                    break
                lab = KMeans(kk, n_init=4, random_state=seed).fit_predict(sample)
                if len(np.unique(lab)) < 2:
                    continue
                s = silhouette_score(sample, lab, random_state=seed)
                best = max(best, (s, -kk))
            k = -best[1] if best[1] else min(3, distinct)
        k = int(max(1, min(k, distinct)))
        centres = KMeans(k, n_init=10, random_state=seed).fit(z).cluster_centers_
    raw = _nearest(z, centres)
    sizes = np.bincount(raw, minlength=k)
    order = np.lexsort((np.arange(k), -sizes))  # largest first, then by the model's label
    centres = centres[order]
    labels = np.empty(k, dtype=np.int64)
    labels[order] = np.arange(k)
    labels = labels[raw]
    means = pd.DataFrame(z, columns=num.columns).groupby(labels).mean()
    share = np.bincount(labels, minlength=k) / len(z)
    return ClusterFit(
        tuple(num.columns),
        med,
        skewed,
        mean,
        std,
        centres,
        {int(c): _describe(means.loc[c], share[c]) for c in means.index},
    )


def _nearest(z: np.ndarray, centres: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    """Index of the nearest centre (squared Euclidean distance) for every row, in chunks."""
    out = np.empty(len(z), dtype=np.int64)
    c2 = (centres**2).sum(axis=1)
    for i in range(0, len(z), chunk):
        block = z[i : i + chunk]
        out[i : i + chunk] = np.argmin(c2[None, :] - 2.0 * block @ centres.T, axis=1)
    return out


def _standardise(num: pd.DataFrame) -> np.ndarray:
    return standardisation(num)[0]


def standardisation(
    num: pd.DataFrame,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The clusters' feature scaling: NaN to the column median, log1p of the columns skewed
    above 1, then z-scores. Returns (z, median, skewed, mean, std), the last four the fitted
    transform, so the same scaling can be applied to other rows (`tools.scoring.engine.fitting`)."""
    x = num.to_numpy(dtype=float, copy=True)
    med = np.nanmedian(x, axis=0) if len(x) else np.zeros(x.shape[1])
    nan = np.isnan(x)
    if nan.any():
        x[nan] = np.take(med, np.nonzero(nan)[1])
    mean, std = x.mean(axis=0), x.std(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        skew = np.where(std > 0, ((x - mean) ** 3).mean(axis=0) / std**3, 0.0)
    skewed = skew > 1.0
    x[:, skewed] = np.sign(x[:, skewed]) * np.log1p(np.abs(x[:, skewed]))
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (x - mean) / std, med, skewed, mean, std


def _describe(centroid: pd.Series, share: float) -> str:
    core: list[str] = []
    extra: list[str] = []
    for name, zval in centroid.sort_values(key=np.abs, ascending=False).items():
        if abs(zval) < _STANDOUT:
            continue
        high, low, is_core = _WORDS.get(name, (f"high {name}", f"low {name}", False))
        word = high if zval > 0 else low
        if word and abs(zval) >= 1.5:
            word = "very " + word
        if word and word not in core + extra:
            (core if is_core else extra).append(word)
    text = (", ".join(core) + " buyers") if core else "typical buyers"
    if extra:
        text += "; " + ", ".join(extra)
    return f"{text} ({share:.0%} of customers)"


# --- migration ---------------------------------------------------------------------------


def segment_migration(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Customers moving between segments from one snapshot to the next (a long table).

    Inputs: two frames with customer_id and segment (e.g. `rfm_scores` at two as-of dates).
    Returns one row per (from_segment, to_segment) pair that occurs: `customers` (count) and
    `share_of_from` (that count over the from-segment's size). A customer only in `after`
    comes from "(new)"; one only in `before` goes to "(gone)". Rows are ordered by
    `SEGMENTS`. `migration_matrix` pivots it; `migration_summary` gives per-segment totals.
    """
    pairs = _joined(before, after)
    long = (
        pairs.groupby(["from_segment", "to_segment"], observed=True)
        .size()
        .rename("customers")
        .reset_index()
    )
    long = long[long["customers"] > 0]
    size_from = long.groupby("from_segment", observed=True)["customers"].transform("sum")
    long = long.assign(share_of_from=long["customers"] / size_from)
    long = long.sort_values(["from_segment", "to_segment"], kind="stable").reset_index(drop=True)
    long["from_segment"] = long["from_segment"].astype(str)
    long["to_segment"] = long["to_segment"].astype(str)
    return long


def migration_matrix(migration: pd.DataFrame) -> pd.DataFrame:
    """The long table of `segment_migration` as a from x to matrix of counts (0 where none)."""
    m = migration.pivot_table(
        index="from_segment", columns="to_segment", values="customers", aggfunc="sum", fill_value=0
    )
    rank = {s: i for i, s in enumerate(_order())}
    rows = sorted(m.index, key=lambda s: rank.get(s, len(rank)))
    cols = sorted(m.columns, key=lambda s: rank.get(s, len(rank)))
    return m.loc[rows, cols].astype(np.int64)


def migration_summary(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Per segment: customers `before`, `after`, `change`, `stayed`, `moved_in` (from another
    segment), `new` (not in `before`), `moved_out` and `gone` (not in `after`)."""
    p = _joined(before, after)
    cats = list(p["from_segment"].cat.categories)
    k = len(cats)
    f, t = p["from_segment"].cat.codes.to_numpy(), p["to_segment"].cat.codes.to_numpy()
    new, gone = cats.index(NEW_SEGMENT), cats.index(GONE_SEGMENT)
    stay = f == t
    count = lambda codes, mask: np.bincount(codes[mask], minlength=k)
    out = pd.DataFrame(
        {
            "segment": cats,
            "before": count(f, f != new),
            "after": count(t, t != gone),
            "stayed": count(t, stay),
            "moved_in": count(t, ~stay & (f != new)),
            "new": count(t, f == new),
            "moved_out": count(f, ~stay & (t != gone)),
            "gone": count(f, t == gone),
        }
    )
    out.insert(3, "change", out["after"] - out["before"])
    used = ((out["before"] > 0) | (out["after"] > 0)) & ~out["segment"].isin(
        [NEW_SEGMENT, GONE_SEGMENT]
    )
    return out.loc[used].reset_index(drop=True)


def _joined(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    for name, frame in (("before", before), ("after", after)):
        _require(frame, ("customer_id", "segment"), what=name)
        dup = frame["customer_id"].duplicated()
        if dup.any():
            raise DataError(
                "a customer appears twice in one snapshot",
                file=name,
                column="customer_id",
                bad_rows=int(dup.sum()),
                example=repr(frame.loc[dup, "customer_id"].iloc[0]),
            )
    b = pd.DataFrame(
        {
            "customer_id": before["customer_id"].to_numpy(),
            "from_segment": before["segment"].astype(str).to_numpy(),
        }
    )
    a = pd.DataFrame(
        {
            "customer_id": after["customer_id"].to_numpy(),
            "to_segment": after["segment"].astype(str).to_numpy(),
        }
    )
    p = b.merge(a, on="customer_id", how="outer")
    p["from_segment"] = p["from_segment"].fillna(NEW_SEGMENT)
    p["to_segment"] = p["to_segment"].fillna(GONE_SEGMENT)
    cats = _order() + sorted((set(p["from_segment"]) | set(p["to_segment"])) - set(_order()))
    p["from_segment"] = pd.Categorical(p["from_segment"], categories=cats)
    p["to_segment"] = pd.Categorical(p["to_segment"], categories=cats)
    return p


def _order() -> list[str]:
    return [NEW_SEGMENT, *SEGMENTS, GONE_SEGMENT]


def _require(frame: pd.DataFrame, columns, *, what: str = "orders") -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"column '{missing[0]}' is missing; have {', '.join(map(str, frame.columns))}",
            file=what,
            column=missing[0],
        )
