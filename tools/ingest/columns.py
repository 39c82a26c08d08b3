"""The column checks every validator of `tools.ingest.validate` shares: dates, numbers and ids
read from a column's text, each row that cannot be read given its reason (`first_reason`: the
first problem found is the one reported), and a column of which no value can be read refused
as a whole (`DataError` naming the file, the column and an example line).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tools.errors import DataError
from tools.ingest.parse import (
    blank_mask,
    parse_dates,
    parse_numbers,
    recoded,
    trimmed_text,
    trimmed_words,
)
from tools.ingest.read import LINE_COL
from tools.schema import PLACEHOLDER_IDS, is_placeholder_id

FUTURE_TOLERANCE = timedelta(days=1)


def first_reason(reasons: pd.Series, mask: pd.Series, text) -> None:
    """Set the reason where a row has none yet (the first problem found is the one reported).
    `text` is a string, or a function of the affected rows' index giving one per row (built
    only for those rows: formatting millions of values to explain none is what a large
    clean file would otherwise pay for)."""
    if not mask.any():
        return
    todo = mask & reasons.isna()
    if todo.any():
        reasons.loc[todo] = text(todo[todo].index) if callable(text) else text


def _example(canon: pd.DataFrame, mask: pd.Series, column: str) -> str:
    row = canon.loc[mask].iloc[0]
    return f"line {row[LINE_COL]}: {row[column]!r}"


def _whole_column_bad(canon, bad, blank, column, cols, file, what) -> None:
    """If not a single value of a column can be read, the column is wrong, not the rows."""
    if bad.any() and not (~bad & ~blank).any():
        raise DataError(
            f"no value can be read as {what}",
            file=file,
            column=cols.get(column, column),
            bad_rows=int(bad.sum()),
            example=_example(canon, bad, column),
            hint=f"Check that this is the {column} column, or pass --map {column}=<column>",
        )


def _parsed_column(canon, reasons, column, cols, file, parse, what, *, required, coded=None):
    """`column` parsed by `parse` (values, unreadable mask): a column none of whose values
    can be read is refused whole; a blank (where required) or unreadable value rejects its
    row, saying which value. With `coded` (the column as read, dictionary-coded:
    `RawTable.text`) each distinct value is parsed once."""
    if coded is not None:
        words = pd.Series(coded.dictionary.to_numpy(zero_copy_only=False), dtype=object)
        codes = coded.indices.to_numpy(zero_copy_only=False)
        counts = np.bincount(codes, minlength=len(words))
        values_w, bad_w = parse(words, counts=counts)
        blank_w = blank_mask(words)
        index = canon.index
        values = pd.Series(values_w.to_numpy()[codes], index=index, name=column)
        bad = pd.Series(bad_w.to_numpy(bool)[codes], index=index)
        blank = pd.Series(blank_w.to_numpy(bool)[codes], index=index)
    else:
        values, bad = parse(canon[column])
        blank = blank_mask(canon[column])
    _whole_column_bad(canon, bad, blank, column, cols, file, f"a {what}")
    if required:
        first_reason(reasons, blank, f"{column} is blank")
    first_reason(
        reasons,
        bad,
        lambda idx: (
            "'"
            + canon.loc[idx, column].astype(str).str.slice(0, 40)
            + f"' is not a {what} ({column})"
        ),
    )
    return values


def date_column(canon, reasons, column, cols, file, *, now, required, coded=None):
    parsed = _parsed_column(
        canon, reasons, column, cols, file, parse_dates, "date", required=required, coded=coded
    )
    first_reason(
        reasons, parsed > pd.Timestamp(now + FUTURE_TOLERANCE), f"{column} is in the future"
    )
    return parsed


def number_column(canon, reasons, column, cols, file, *, required, coded=None):
    return _parsed_column(
        canon, reasons, column, cols, file, parse_numbers, "number", required=required, coded=coded
    )


def id_values(canon, reasons, column, coded=None) -> pd.Series:
    return id_column(canon, reasons, column, coded)[0]


def id_column(canon, reasons, column, coded=None) -> tuple[pd.Series, np.ndarray]:
    """The trimmed ids (a spreadsheet's float id 17850.0 read as 17850; blank ids rejected)
    and their integer codes (dense, one per distinct id). The checks run on the distinct
    ids: those of `coded` (the column as read, dictionary-coded: `RawTable.text`), else
    those Arrow's hash kernel finds."""
    col = canon[column]
    if coded is not None:
        words, codes, changed = trimmed_words(coded)
        ids = col
    else:
        ids, arr = trimmed_text(col.astype(str) if col.dtype != object else col)
        enc = pc.dictionary_encode(arr)
        words, codes, changed = enc.dictionary, enc.indices.to_numpy(zero_copy_only=False), False
    spreadsheet = pc.ends_with(words, ".0")
    if pc.any(spreadsheet).as_py():
        words = pc.if_else(spreadsheet, pc.utf8_slice_codeunits(words, 0, -2), words)
        words, codes = recoded(words, codes)
        changed = True
    if changed:
        ids = pd.Series(words.to_numpy(zero_copy_only=False)[codes], index=col.index, dtype=object)
    blank = pc.equal(words, "").to_numpy(zero_copy_only=False)
    first_reason(reasons, pd.Series(blank[codes], index=col.index), f"{column} is blank")
    fake = placeholder_words(words)
    if fake.any():
        first_reason(
            reasons,
            pd.Series(fake[codes], index=col.index),
            lambda idx: (
                f"{column} '"
                + ids[idx].astype(str)
                + "' is a placeholder, not a customer (a guest or blank id)"
            ),
        )
    return ids, codes.astype(np.int64)


def text_values(canon, column, coded=None):
    """A text column trimmed, blanks as None; `coded` as in `id_column`."""
    if coded is None:
        text, arr = trimmed_text(canon[column])
        blank = pc.equal(arr, "").to_numpy(zero_copy_only=False)
        return text.where(~blank, None) if blank.any() else text
    words, codes, changed = trimmed_words(coded)
    blank = pc.equal(words, "").to_numpy(zero_copy_only=False)
    if not (changed or blank.any()):
        return canon[column]
    values = words.to_numpy(zero_copy_only=False).astype(object)
    values[blank] = None
    return pd.Series(values[codes], index=canon.index, dtype=object)


_PLAIN_ASCII = r"^[\x21-\x7e]+$"  # printable ASCII, no space: nothing for Python to strip
_PLACEHOLDER_SET = pa.array(sorted(PLACEHOLDER_IDS | {"-1", "-0"}), type=pa.string())


def placeholder_words(words: pa.Array) -> np.ndarray:
    """`w != "" and is_placeholder_id(w)` for each distinct id of `words` (Arrow strings,
    no nulls). A word of printable ASCII without spaces (every id of a clean file) is
    checked by Arrow's kernels, where lower-casing is Python's and there is nothing to
    strip; any other word by `is_placeholder_id` itself (a Python call per id was a few
    seconds on a million customers)."""
    words = words.cast(pa.string())
    plain = pc.match_substring_regex(words, _PLAIN_ASCII).to_numpy(zero_copy_only=False)
    low = pc.ascii_lower(words)
    hit = pc.or_(pc.is_in(low, value_set=_PLACEHOLDER_SET), pc.match_substring_regex(low, "^0+$"))
    fake = hit.to_numpy(zero_copy_only=False) & plain
    other = np.flatnonzero(~plain)
    if len(other):
        fake[other] = [w != "" and is_placeholder_id(w) for w in words.take(other).to_pylist()]
    return fake


def normalise_category(s: pd.Series, fn, coded=None) -> pd.Series:
    """Apply a string clean-up to each distinct value once (event types, channels, ...);
    `coded`: the column as read, dictionary-coded (`RawTable.text`)."""
    if coded is not None:
        codes = coded.indices.to_numpy(zero_copy_only=False)
        uniques = coded.dictionary.to_numpy(zero_copy_only=False)
    else:
        codes, uniques = pd.factorize(s.astype(str))
    cleaned = fn(pd.Series(uniques, dtype=object)).to_numpy(dtype=object)
    return pd.Series(cleaned[codes], index=s.index, dtype=object)
