"""Value parsers shared by every loader: dates, numbers, yes/no flags.

Each takes a Series of strings (as read) and returns a parsed Series plus a boolean mask of
values that were present but could not be parsed, so the caller can reject those rows with
a reason instead of guessing.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tools.schema import CONSENT_UNKNOWN_WORDS, FALSE_WORDS, TRUE_WORDS

_TZ_SUFFIX = re.compile(r"\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})$", re.IGNORECASE)
_CURRENCY = re.compile(r"[£$€¥₹\s\u00a0']|^[A-Z]{3}|[A-Z]{3}$")


def _blank(s: pd.Series) -> pd.Series:
    if s.dtype != object:
        return s.isna()
    return s.isna() | (_stripped(s) == "")


def trimmed_text(s: pd.Series) -> tuple[pd.Series, pa.Array]:
    """Trim surrounding whitespace, missing values as "" (Arrow's vectorised kernels: Python
    string methods over millions of ids are what made large loads slow; the same Unicode
    whitespace is trimmed): the Series, the column itself when nothing changed, and the same
    values as an Arrow array."""
    arr = pa.array(s.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    trimmed = pc.utf8_trim_whitespace(arr)
    if arr.null_count:
        trimmed = trimmed.fill_null("")
    elif pc.all(pc.equal(arr, trimmed)).as_py() is not False:
        return s, trimmed
    return pd.Series(trimmed.to_numpy(zero_copy_only=False), index=s.index, dtype=object), trimmed


def trimmed_words(coded: pa.DictionaryArray) -> tuple[pa.Array, np.ndarray, bool]:
    """`trimmed_text` of a dictionary-coded column (`tools.ingest.read.RawTable.text`), on its
    distinct values only: the trimmed distinct values (still distinct: values that differ only
    in surrounding whitespace become one), each row's code into them, and whether trimming
    changed any value."""
    words = coded.dictionary.cast(pa.string())
    codes = coded.indices.to_numpy(zero_copy_only=False)
    trimmed = pc.utf8_trim_whitespace(words)
    if pc.all(pc.equal(words, trimmed)).as_py() is not False:
        return words, codes, False
    return (*recoded(trimmed, codes), True)


def recoded(words: pa.Array, codes: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """Distinct `words` again after a change that may have made two of them equal, with the
    rows' `codes` into them."""
    enc = pc.dictionary_encode(words)
    return enc.dictionary, enc.indices.to_numpy(zero_copy_only=False)[codes]


def _stripped(s: pd.Series) -> pd.Series:
    """`str(value).strip()` of every value."""
    return trimmed_text(s.astype(str))[0]


def parse_dates(s: pd.Series, counts=None) -> tuple[pd.Series, pd.Series]:
    """Parse dates as the wall-clock time recorded in the file.

    A trailing time-zone offset (`-0500`, `+01:00`, `Z`) is dropped rather than converted:
    a purchase at 23:30 local time belongs to that local day, which is what the merchant
    sees in their shop admin. ISO 8601 is tried first (fast); anything else goes through
    pandas' mixed-format parser, day-first when the values show day-first (a first field
    above 12: any value, so `counts`, the rows of each value when `s` holds each distinct
    value once, changes nothing). Returns (datetime64[ns] series with NaT for blanks/bad, bad
    mask).
    """
    if pd.api.types.is_datetime64_any_dtype(s):  # already typed (Parquet)
        parsed = s.dt.tz_localize(None) if s.dt.tz is not None else s
        return parsed.astype("datetime64[ns]"), pd.Series(False, index=s.index)
    text = _stripped(s)
    blank = s.isna() | (text == "") if s.dtype == object else s.isna()
    text = text.where(~blank, None)
    parsed = _to_datetime(text, format="ISO8601")
    if parsed is None:  # mixed offsets: drop them (wall time), then try again
        text = text.str.replace(_TZ_SUFFIX, "", regex=True)
        parsed = _to_datetime(text, format="ISO8601")
    if parsed is None:  # still mixed (a malformed offset): UTC is the last resort
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True).dt.tz_localize(
            None
        )
    missing = parsed.isna() & ~blank
    if missing.any():
        rest = text[missing].str.replace(_TZ_SUFFIX, "", regex=True)
        first = rest.str.extract(r"^(\d{1,2})[/.\-]", expand=False).astype(float)
        dayfirst = bool((first > 12).any())
        second = pd.Series(pd.NaT, index=rest.index, dtype="datetime64[ns]")
        for fmt in ("ISO8601", "mixed"):
            todo = second.isna()
            if not todo.any():
                break
            try:
                got = _to_datetime(rest[todo], format=fmt, dayfirst=dayfirst)
            except (ValueError, TypeError, OverflowError):
                got = None
            if got is None:
                got = pd.Series(pd.NaT, index=rest[todo].index)
            second.loc[todo] = got
        parsed = parsed.astype("datetime64[ns]")
        parsed.loc[missing] = second
    parsed = parsed.astype("datetime64[ns]")
    bad = parsed.isna() & ~blank
    return parsed, bad


def _to_datetime(values: pd.Series, **kw) -> pd.Series | None:
    """pandas' parser, wall-clock and tz-naive; None when offsets are mixed (object result)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the mixed-offset FutureWarning: handled by the caller
        got = pd.to_datetime(values, errors="coerce", **kw)
    if not pd.api.types.is_datetime64_any_dtype(got):
        return None
    return got.dt.tz_localize(None) if got.dt.tz is not None else got


def parse_numbers(s: pd.Series, counts=None) -> tuple[pd.Series, pd.Series]:
    """Parse money and quantities: currency signs, thousands separators, decimal commas,
    accounting negatives `(12.50)`. Returns (float64 series, bad mask); blanks are NaN
    and not bad."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        values = s.astype(float)
        return values, pd.Series(~np.isfinite(values.fillna(0.0)), index=s.index)
    blank = _blank(s)
    values = pd.to_numeric(s.where(~blank, None), errors="coerce")
    todo = values.isna() & ~blank
    if todo.any():
        t = s[todo].astype(str).str.strip()
        negative = t.str.match(r"^\(.*\)$") | t.str.endswith("-")
        t = t.str.strip("()").str.rstrip("-").str.replace(_CURRENCY, "", regex=True)
        decimal_comma = _uses_decimal_comma(
            s[~blank].astype(str), None if counts is None else np.asarray(counts)[~blank.to_numpy()]
        )
        if decimal_comma:
            t = t.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        else:
            t = t.str.replace(",", "", regex=False)
        fixed = pd.to_numeric(t, errors="coerce")
        fixed = fixed.where(~negative, -fixed)
        values = values.astype(float)
        values.loc[todo] = fixed
    values = values.astype(float)
    bad = values.isna() & ~blank
    bad |= ~np.isfinite(values.fillna(0.0))
    return values.where(~bad), bad


def _uses_decimal_comma(text: pd.Series, counts=None) -> bool:
    """True when the column writes decimals with a comma (`12,50`, `1.234,50`); `counts`: how
    many rows hold each value, when `text` holds each distinct value once."""
    weight = np.ones(len(text)) if counts is None else np.asarray(counts, float)
    comma_dec = weight[text.str.contains(r",\d{1,2}$", regex=True).to_numpy(bool)].sum()
    dot_dec = weight[text.str.contains(r"\.\d{1,2}$", regex=True).to_numpy(bool)].sum()
    return bool(comma_dec > dot_dec)


def parse_consent(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A consent column as pandas' nullable boolean: True (opted in), False (said no, or a
    state that is not consent: unsubscribed, pending double opt-in), <NA> where the cell is
    blank: unknown consent is not refused consent. The mask: words read neither way (also
    <NA>, reported by the caller)."""
    codes, uniques = pd.factorize(s.fillna("").astype(str))
    words = pd.Series(uniques, dtype=object).str.strip().str.lower()
    yes = words.isin(TRUE_WORDS).to_numpy()
    no = (words.isin(FALSE_WORDS) & ~words.isin(CONSENT_UNKNOWN_WORDS)).to_numpy()
    blank = words.isin(CONSENT_UNKNOWN_WORDS).to_numpy()
    values = pd.array(np.where(yes, True, False), dtype="boolean")
    values[~(yes | no)] = pd.NA
    flags = pd.Series(
        values[codes] if len(codes) else pd.array([], dtype="boolean"),
        index=s.index,
        dtype="boolean",
    )
    unknown = pd.Series(
        ~(yes | no | blank)[codes] if len(codes) else np.zeros(0, bool), index=s.index
    )
    return flags, unknown


def blank_mask(s: pd.Series) -> pd.Series:
    return _blank(s)
