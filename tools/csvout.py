"""CSV files written for a person (exports, rejects, scores): inert in a spreadsheet, and
never half written.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel,
LibreOffice and Google Sheets as a formula (OWASP, "CSV Injection"): a customer's name or a
product name such as `=HYPERLINK("http://evil", "click")` would run when the merchant opens
the file. Such text cells get a leading apostrophe, which spreadsheets show as text and do
not evaluate. Numbers stay numbers: numeric columns are untouched, and a text cell that is
a plain number (`-12.50`, `+15551234567`, `1e5`) is not a formula and is left as it is.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def inert_text(value: object) -> object:
    """One cell, made safe to open: text that a spreadsheet would evaluate gets a leading '."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    if _PLAIN_NUMBER.match(value):
        return value
    return "'" + value


def inert(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells cannot run as formulas (the caller's frame is not
    changed). Only text columns are looked at, each distinct value once."""
    out = None
    for col in frame.columns:
        s = frame[col]
        if s.dtype != object and not pd.api.types.is_string_dtype(s):
            continue
        starts = s.astype(str).str[:1].isin(FORMULA_START) & s.map(lambda v: isinstance(v, str))
        if not starts.any():
            continue
        if out is None:
            out = frame.copy()
        out.loc[starts, col] = s[starts].map(inert_text)
    return frame if out is None else out


def write_csv(frame: pd.DataFrame, path: str | Path, **to_csv) -> Path:
    """`frame` as an inert CSV at `path`, through a temporary file and a rename: a crash never
    leaves half a file, and a reader never sees one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        inert(frame).to_csv(tmp, index=False, **to_csv)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
