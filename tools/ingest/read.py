"""Reading one table file as text: encoding, delimiter, size limit, malformed lines.

Everything is read as strings; parsing happens in `tools.ingest.load`, where a value that cannot
be used becomes a reject with a reason. A line the CSV parser cannot split (too many
fields) is not dropped: it comes back in `RawTable.bad_lines` with its line number.
A clean UTF-8 CSV file and a Parquet file are read by Arrow (its CSV reader runs on every
core) and their text columns also handed on dictionary-coded (`RawTable.text`), so the
validators check and parse each distinct value once; any other CSV file is read by pandas'
parser, and a file it cannot split by the csv module, row by row.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tools.errors import DataError

DEFAULT_MAX_BYTES = 1536 * 1024 * 1024  # 1.5 GiB: beyond that, ask for Parquet or a split
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
TABLE_SUFFIXES = TEXT_SUFFIXES + (".parquet", ".pq")
LINE_COL = "_line"


@dataclass
class RawTable:
    """A file's rows as strings, with `_line` (1-based line number in the file; the header
    is line 1) and the lines that could not be split into the header's fields."""

    path: Path
    frame: pd.DataFrame
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    encoding: str = "utf-8"
    delimiter: str = ","
    warnings: list[str] = field(default_factory=list)
    text: dict[str, pa.DictionaryArray] = field(default_factory=dict)
    """The text columns of `frame` also as Arrow dictionary arrays (each distinct value once,
    a code per row; blanks for nulls), when the file gave them as Arrow strings (Parquet): the
    validators trim and check the distinct values only (`tools.ingest.parse.trimmed_words`)."""

    @property
    def rows_read(self) -> int:
        return len(self.frame) + len(self.bad_lines)


def read_table(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> RawTable:
    """Read a CSV/TSV/Parquet file as strings, refusing what cannot be a table."""
    path = Path(path)
    name = path.name
    if not path.exists():
        raise DataError("file not found", file=str(path))
    if path.is_dir():
        raise DataError("is a folder, not a file", file=str(path))
    size = path.stat().st_size
    if size == 0:
        raise DataError("file is empty (0 bytes)", file=name, hint="Export it again from your shop")
    if size > max_bytes:
        raise DataError(
            f"file is {size / 2**30:.1f} GiB, over the {max_bytes / 2**30:.1f} GiB limit for one file",
            file=name,
            hint="Split it (Shopify exports come in parts: orders_export_1.csv, _2, ...) "
            "or save it as Parquet",
        )
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path)
    return _read_text(path)


def read_header(path: str | Path) -> list[str] | None:
    """A table file's column names without reading its rows; None if they cannot be read
    (`read_table` then gives the reason)."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return list(pq.read_schema(path).names)
        with path.open("rb") as fh:
            sample = fh.read(64 * 1024)
        encoding, delimiter = _sniff(sample)
        lines = sample.decode(encoding, errors="replace").splitlines()
        return (
            [h.strip() for h in next(csv.reader(lines[:1], delimiter=delimiter))] if lines else None
        )
    except Exception:  # a broken file: read_table names the problem
        return None


def _read_parquet(path: Path) -> RawTable:
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise DataError(
            f"cannot be read as Parquet ({type(exc).__name__})", file=path.name
        ) from None
    # text columns become Python strings with blanks for nulls (filled by Arrow, before the
    # conversion: per-column pandas round trips cost seconds on millions of rows); typed
    # columns (dates, numbers) stay typed: the parsers take them as they are
    frame, text = _frame_of(table)
    return RawTable(path=path, frame=frame, text=text)


def _frame_of(table: pa.Table) -> tuple[pd.DataFrame, dict[str, pa.DictionaryArray]]:
    """An Arrow table as the reader's frame (with `_line`) and its text columns
    dictionary-coded (`RawTable.text`)."""
    names = [str(c) for c in table.column_names]
    unique_names = len(set(names)) == len(names)
    text: dict[str, pa.DictionaryArray] = {}
    for i, f in enumerate(table.schema):
        t = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            arr = pc.fill_null(table.column(i).cast(pa.string()), "")
            if unique_names:
                text[names[i]] = pc.dictionary_encode(arr.combine_chunks())
            else:
                table = table.set_column(i, f.name, arr)
    frame = table.drop_columns(list(text)).to_pandas()
    frame.columns = [str(c) for c in frame.columns]
    for col in frame.columns:  # anything else pandas holds as objects (bytes, decimals): text
        if col not in text and (
            frame[col].dtype == object or str(frame[col].dtype).startswith(("string", "category"))
        ):
            frame[col] = frame[col].astype("string").fillna("").astype(object)
    if text:
        frame = pd.DataFrame(
            {n: _decoded(text[n]) if n in text else frame[n] for n in names},
            index=pd.RangeIndex(table.num_rows),
            copy=False,
        )
    frame.insert(0, LINE_COL, range(2, len(frame) + 2))
    return frame, text


def _decoded(coded: pa.DictionaryArray) -> np.ndarray:
    """A dictionary-coded text column as Python strings, each distinct value one object that
    every row holding it shares (as pyarrow's own conversion shares them, which hashes every
    row again to find them: twice the time on a million customers' order lines)."""
    values = coded.dictionary.to_numpy(zero_copy_only=False)
    return values[coded.indices.to_numpy(zero_copy_only=False)]


def _sniff(sample: bytes) -> tuple[str, str]:
    if b"\x00" in sample[:4096]:
        raise DataError("is not a text table (binary content)")
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = sample.decode(encoding)
            break
        except UnicodeDecodeError as exc:
            if exc.start > len(sample) - 4:  # a multi-byte character cut by the sample
                text = sample[: exc.start].decode(encoding)
                break
    header = text.splitlines()[0] if text.splitlines() else ""
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    delimiter = max(counts, key=counts.__getitem__)
    if counts[delimiter] == 0:
        try:
            delimiter = csv.Sniffer().sniff(text[:8192]).delimiter
        except csv.Error:
            delimiter = ","
    return encoding, delimiter


def _read_text(path: Path) -> RawTable:
    with path.open("rb") as fh:
        sample = fh.read(256 * 1024)
    try:
        encoding, delimiter = _sniff(sample)
    except DataError as exc:
        raise DataError(exc.problem, file=path.name) from None
    bad: list[tuple[int, str]] = []
    if encoding in ("utf-8-sig", "utf-8") and (table := _read_arrow(path, delimiter)) is not None:
        frame, text = _frame_of(table)
        frame.columns = [LINE_COL] + [str(c).strip() for c in frame.columns[1:]]
        text = {str(k).strip(): v for k, v in text.items()}
        return RawTable(path, frame, encoding=encoding, delimiter=delimiter, text=text)
    try:
        frame, lines, encoding = _read_fast(path, encoding, delimiter)
    except pd.errors.EmptyDataError:
        raise DataError("file has no header row", file=path.name) from None
    except (pd.errors.ParserError, csv.Error):
        frame, lines, bad = _read_tolerant(path, encoding, delimiter)
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.insert(0, LINE_COL, lines)
    warnings = []
    if encoding not in ("utf-8-sig", "utf-8"):
        warnings.append(f"read as {encoding} (not UTF-8)")
    return RawTable(path, frame, bad, encoding=encoding, delimiter=delimiter, warnings=warnings)


def _read_arrow(path: Path, delimiter: str) -> pa.Table | None:
    """A UTF-8 file every row of which has the header's fields, read by Arrow's CSV reader
    (on every core) as text, as pandas' parser reads it (`_read_fast`: no value missing, a
    quoted newline part of its value); None for any other file, which pandas' readers take
    (an empty, repeated or padded column name, a row too short or too long, a byte that is
    not UTF-8: `_read_fast` and `_read_tolerant` say what they do with it)."""
    import pyarrow.csv as pacsv

    with path.open("rb") as fh:
        head = fh.read(64 * 1024).decode("utf-8-sig", errors="replace").splitlines()
    reader = csv.reader(head[:1], delimiter=delimiter)
    names = next(reader, [])
    stripped = [h.strip() for h in names]
    if not names or not all(stripped) or len(set(stripped)) < len(names):
        return None
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                use_threads=True, block_size=1 << 24, column_names=names, skip_rows=1
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, double_quote=True, escape_char=False, newlines_in_values=True
            ),
            convert_options=pacsv.ConvertOptions(
                check_utf8=True,
                column_types={h: pa.string() for h in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, ValueError):
        return None
    return table


def _read_fast(path: Path, encoding: str, delimiter: str):
    """pandas' C parser; a byte that is not UTF-8 anywhere in the file means Windows-1252."""
    kwargs = dict(sep=delimiter, dtype=str, keep_default_na=False, na_filter=False)
    for enc in dict.fromkeys((encoding, "cp1252", "latin-1")):
        try:
            frame = pd.read_csv(path, engine="c", on_bad_lines="error", encoding=enc, **kwargs)
            return frame, _line_numbers(path, enc, len(frame)), enc
        except UnicodeDecodeError:
            continue
    raise DataError("cannot be decoded as text", file=path.name)  # pragma: no cover


def _line_numbers(path: Path, encoding: str, n: int) -> list[int]:
    """Line numbers of data rows, assuming one physical line per row and no blank lines
    (true for nearly every export); a file with quoted newlines gets row order instead."""
    return list(range(2, n + 2))


def _read_tolerant(path: Path, encoding: str, delimiter: str):
    """Row by row with the csv module: rows with the wrong field count are kept aside."""
    bad: list[tuple[int, str]] = []
    rows: list[list[str]] = []
    lines: list[int] = []
    with path.open("r", encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError("file has no header row", file=path.name) from None
        width = len(header)
        line_no = reader.line_num
        try:
            for row in reader:
                start = line_no + 1
                line_no = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) == width:
                    rows.append(row)
                    lines.append(start)
                elif (
                    len(row) < width
                ):  # a short row (e.g. truncated last line): pad, validate later
                    rows.append(row + [""] * (width - len(row)))
                    lines.append(start)
                else:
                    bad.append((start, delimiter.join(row)))
        except csv.Error as exc:
            bad.append((line_no + 1, f"unreadable from here on: {exc}"))
    frame = pd.DataFrame(rows, columns=_dedupe(header), dtype=object)
    return frame, lines, bad


def _dedupe(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in header:
        h = h.strip()
        if h in seen:
            seen[h] += 1
            out.append(f"{h}.{seen[h]}")
        else:
            seen[h] = 0
            out.append(h)
    return out
