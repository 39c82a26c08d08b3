"""Customer ids as integer codes, fast.

Every per-customer aggregate starts by turning ids into dense integer codes. pandas'
`factorize(sort=True)` sorts the unique ids with Python string comparisons, which on a
million customers costs more than the hashing itself; Arrow's sort does the same ordering
(Unicode code points, as Python compares `str`) in a fraction of the time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

DENSE_SPAN = 4
"""Integers spanning at most this many times their count (customer codes, `tools.scoring.splits
.Population`) are factorised by a presence table over their range: no hashing, no sort."""


def factorize_sorted(values) -> tuple[np.ndarray, np.ndarray]:
    """(codes, uniques) as `pd.factorize(values, sort=True)` gives them: uniques sorted,
    codes into them, -1 for missing values."""
    values_arr = np.asarray(values)
    if values_arr.dtype.kind in "iu" and len(values_arr):
        lo, hi = int(values_arr.min()), int(values_arr.max())
        if lo >= 0 and hi < DENSE_SPAN * len(values_arr) + 1024:  # dense non-negative codes
            present = np.zeros(hi + 1, bool)
            present[values_arr] = True
            rank = np.cumsum(present, dtype=np.int64) - 1
            return rank[values_arr], np.flatnonzero(present).astype(values_arr.dtype)
    codes, uniques = pd.factorize(values)
    uniques = np.asarray(uniques)
    if uniques.dtype == object:
        try:
            order = pc.sort_indices(pa.array(uniques, type=pa.string())).to_numpy()
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all strings: pandas sorts them
            return pd.factorize(values, sort=True)
    else:  # numbers or dates (missing values are already out of the uniques)
        order = np.argsort(uniques, kind="stable")
    rank = np.empty(len(order) + 1, np.int64)
    rank[order] = np.arange(len(order))
    rank[-1] = -1  # code -1 (missing) stays -1
    return rank[codes], uniques[order]


def factorize_sorted_with(first, *others) -> tuple[list[np.ndarray], np.ndarray]:
    """`factorize_sorted(first)` and, for each of `others`, `codes_in(other, uniques)`, from
    one pass of Arrow's hash kernel over all the string values end to end (the values of
    `first` come first, so its distinct values take the first codes; a value of the others
    past them is in none of `first`'s rows). Falls back to the two functions for values that
    are not all strings."""
    arrays = [np.asarray(a) for a in (first, *others)]
    try:
        if any(a.dtype != object for a in arrays):
            raise TypeError("not text")
        enc = pc.dictionary_encode(
            pa.concat_arrays([pa.array(a, type=pa.string()) for a in arrays])
        )
    except (TypeError, pa.ArrowInvalid, pa.ArrowTypeError):
        code, uniques = factorize_sorted(arrays[0])
        return [code, *(codes_in(a, uniques) for a in arrays[1:])], uniques
    all_codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    n_first = int(all_codes[: len(arrays[0])].max()) + 1 if len(arrays[0]) else 0
    order = pc.sort_indices(enc.dictionary.slice(0, n_first)).to_numpy()
    rank = np.full(len(enc.dictionary) + 1, -1, np.int64)  # past n_first, and -1: -1
    rank[order] = np.arange(n_first)
    uniques = enc.dictionary.slice(0, n_first).take(order).to_numpy(zero_copy_only=False)
    out, at = [], 0
    for a in arrays:
        out.append(rank[all_codes[at : at + len(a)]])
        at += len(a)
    return out, np.asarray(uniques, dtype=object)


def codes_in(values, uniques) -> np.ndarray:
    """For each value, its position in `uniques` (-1: not there), as
    `pd.Index(uniques).get_indexer(values)` gives it. String ids are matched by Arrow's
    hash kernel, a third faster than pandas' on millions of Python strings."""
    values = np.asarray(values)
    uniques = np.asarray(uniques)
    if values.dtype == object and uniques.dtype == object:
        try:
            pos = pc.index_in(
                pa.array(values, type=pa.string()), value_set=pa.array(uniques, type=pa.string())
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all strings
            pass
        else:
            return pos.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return pd.Index(uniques).get_indexer(values)


def earliest(codes: np.ndarray, dates: np.ndarray, n: int) -> np.ndarray:
    """Per code 0..n-1, the earliest of `dates` (datetime64, none NaT) on its rows, NaT for a
    code with none: numpy's unbuffered minimum over dense integer codes, no hashing."""
    never = np.iinfo(np.int64).max
    out = np.full(n, never, np.int64)
    np.minimum.at(out, codes, np.asarray(dates).astype("datetime64[ns]").view(np.int64))
    out[out == never] = np.iinfo(np.int64).min  # NaT
    return out.view("datetime64[ns]")


def day_keys(code: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, int, int]:
    """One int64 key per (customer code, day number) pair, in the order of code, then day:
    key = code * span + (day - first). Returns (key, span, first); a key decodes as
    code = key // span, day = key % span + first. Sorting or deduplicating the keys is how
    purchase occasions (one customer, one day) are found without a two-column groupby."""
    first = int(day.min()) if len(day) else 0
    span = int(day.max()) - first + 1 if len(day) else 1
    return np.asarray(code, np.int64) * span + (day - first), span, first


SAMPLE_BUCKETS = 1_000_000  # a customer's sample bucket: crc32 of "<id>#<seed>" modulo this


def sample_share(n_customers: int, limit: int) -> int | None:
    """How many of the `SAMPLE_BUCKETS` buckets a sample of about `limit` of `n_customers`
    customers takes; None when the sample is every customer."""
    return None if n_customers <= limit else int(limit / n_customers * SAMPLE_BUCKETS)


def hashed_sample(ids, *, n_customers: int, limit: int, seed: int) -> np.ndarray:
    """Which of `ids` are in the sample of about `limit` customers: the ones whose CRC-32 of
    "<id>#<seed>" (UTF-8) falls in the first `sample_share` buckets. It depends on each id
    alone, not on row order or engine: `tools.scoring.engine.spark_jobs.sample_clause` is the
    same test in Spark SQL, so both engines draw the same customers."""
    import zlib

    share = sample_share(n_customers, limit)
    keys = np.asarray(ids, dtype=object).tolist()
    if share is None:
        return np.ones(len(keys), dtype=bool)
    tag = f"#{int(seed)}"
    crc = np.fromiter(
        (zlib.crc32(f"{k}{tag}".encode()) for k in keys), dtype=np.int64, count=len(keys)
    )
    return crc % SAMPLE_BUCKETS < share
