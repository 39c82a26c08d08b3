"""The invariants the real-store eval checks on one store (see the package docstring): rows
read = accepted + rejected, no NaN or infinite score, one score row per customer seen, no
placeholder id, customers and revenue equal to the file's, product names rather than codes,
the currency shown and the store folder untouched. `Invariants` is the part of `StoreEval`
(`evals.quality.real_stores.store_eval`) that checks what its steps left behind.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from evals.quality.real_stores.accounting import account
from evals.quality.real_stores.expected import Expected, norm_text
from evals.quality.real_stores.results import Check, StoreResult, short
from evals.quality.real_stores.runner import Run, error_of, traceback_in
from evals.quality.real_stores.stores import CENT, CHECKS, PLACEHOLDER_IDS, StoreSpec, folder_state

if TYPE_CHECKING:
    from tools.ingest.load import Store

Tables = dict[str, tuple[pd.DataFrame, pd.Timestamp]]
"""Each scores table written, by file name: the table and the date it is as of."""


class Invariants:
    """The checks of `StoreEval`, on what its steps left in these attributes."""

    spec: StoreSpec
    quick: bool
    ws: Path  # the workspace
    store: Path  # the store folder the commands got
    r: StoreResult
    runs: dict[str, Run]
    texts: dict[str, str]  # shown text, for the name and currency checks
    loaded: Store | None
    exp: Expected | None
    load_error: str | None
    rejects: dict[str, pd.DataFrame]  # file -> its rejects (check_rows reads them)

    def check_all(
        self,
        scores_csv: Path,
        scores: pd.DataFrame | None,
        drafts: list[dict],
        before: dict[str, tuple[int, int]],
    ) -> None:
        """Every invariant, into `self.r.checks`."""
        c = self.r.checks
        exp, loaded = self.exp, self.loaded
        bad = {k: s for k, s in self.r.steps.items() if s.status == "FAIL"}
        c["every step ok"] = (
            Check("FAIL", "; ".join(f"{k}: {s.reason}" for k, s in bad.items()))
            if bad
            else Check("pass")
        )
        tb = [k for k, run in self.runs.items() if traceback_in(run)]
        c["no traceback"] = (
            Check(
                "FAIL", "traceback in " + "; ".join(f"{k} ({error_of(self.runs[k])})" for k in tb)
            )
            if tb
            else Check("pass")
        )
        unusable = exp.unusable if exp else None
        no_load = self.no_load(unusable)
        if exp is None:
            for k in CHECKS[2:]:
                c.setdefault(
                    k,
                    Check(
                        "FAIL",
                        "the eval could not read the file: "
                        + self.r.info.get("expected_error", ""),
                    ),
                )
        if loaded is None:
            c["rows read = accepted + rejected"] = no_load
        elif exp is not None:  # else: the eval could not read the file (above)
            c["rows read = accepted + rejected"] = self.check_rows(exp, loaded)
        tables = self.score_tables(scores_csv, scores)
        if loaded is None or not tables:
            why = no_load if loaded is None else Check("FAIL", "no scores table was written")
            for k in (
                "no NaN or infinite score",
                "one score row per customer seen",
                "no placeholder customer id",
            ):
                c[k] = why
        else:
            c["no NaN or infinite score"] = _check_finite(tables)
            c["one score row per customer seen"] = self.check_one_row(tables, loaded)
            c["no placeholder customer id"] = _check_placeholders(tables)
        if exp is not None and exp.customers is not None:
            c["customers = file"] = (
                self.check_customers(exp.customers, loaded) if loaded is not None else no_load
            )
        else:
            c["customers = file"] = Check(
                "n/a", "Shopify: the customer key is the loader's choice (email or phone)"
            )
        if loaded is not None and exp is not None and not unusable:
            self.check_revenue(exp, loaded)
        else:
            c["revenue = file, to the cent"] = c["revenue accounted for"] = no_load
        if exp is not None and unusable and loaded is None:
            c["product names, not codes"] = c["currency shown"] = Check(
                "n/a", "the store was refused"
            )
        elif exp is not None:
            c["product names, not codes"] = self.check_names(exp, scores, drafts)
            c["currency shown"] = self.check_currency(exp)
        after = folder_state(
            self.spec.source if self.spec.source.is_dir() else self.spec.source.parent
        )
        changed = sorted({k for k in before.keys() | after.keys() if before.get(k) != after.get(k)})
        c["store folder untouched"] = (
            Check("FAIL", "written, added or removed: " + ", ".join(changed[:5]))
            if changed
            else Check("pass")
        )

    def no_load(self, unusable: str | None) -> Check:
        """What a check of the loaded store says when there is none: a failure, or n/a where
        the file cannot be a scored store (and a failure when such a file was loaded)."""
        if unusable and self.loaded is not None:
            return Check(
                "FAIL",
                f"{unusable}, yet the loader accepted it "
                f"({len(self.loaded.orders):,} order rows): a clear refusal was expected",
            )
        if not unusable:
            return Check("FAIL", f"the store did not load: {self.load_error}")
        return Check(
            "n/a", f"the file cannot be a scored store ({unusable}); the loader refused it"
        )

    def check_rows(self, exp: Expected, loaded: Store) -> Check:
        """Per file of the load report: read = accepted + rejected = the file's rows, and the
        rejects file holds exactly the rejected rows, each line once."""
        problems = []
        reports = list(loaded.reports)
        by_file = {r.file: r for r in reports}
        store_dir = self.store
        for p in sorted(store_dir.iterdir()):
            if p.is_file() and p.suffix.lower() in (".csv", ".parquet") and p.name not in by_file:
                problems.append(f"{p.name}: no load report")
        self.rejects = {}
        for r in reports:
            if r.rows_read != r.rows_accepted + r.rows_rejected:
                problems.append(
                    f"{r.file}: read {r.rows_read} != accepted {r.rows_accepted} + rejected {r.rows_rejected}"
                )
            want = exp.rows.get(r.file)
            if want is not None and r.rows_read != want:
                problems.append(f"{r.file}: {r.rows_read} rows read, the file has {want}")
            rej = (
                _read_rejects(r.rejects_path)
                if r.rows_rejected
                else pd.DataFrame(columns=["line", "reason"])
            )
            if rej is None:
                problems.append(f"{r.file}: {r.rows_rejected} rejected but no rejects file")
                continue
            if len(rej) != r.rows_rejected:
                problems.append(
                    f"{r.file}: rejects file has {len(rej)} rows, report says {r.rows_rejected}"
                )
            lines = pd.to_numeric(rej["line"], errors="coerce")
            dup = lines[lines.duplicated(keep=False)]
            if len(dup):
                problems.append(
                    f"{r.file}: {dup.nunique()} lines rejected more than once (e.g. line "
                    f"{int(dup.iloc[0])}, reasons {sorted(set(rej.loc[dup.index, 'reason']))[:3]})"
                )
            top = max(want + 1, exp.max_line.get(r.file, 0)) if want is not None else None
            if top is not None and ((lines < 2) | (lines > top) | lines.isna()).any():
                problems.append(f"{r.file}: rejects name lines outside the file's rows")
            self.rejects[r.file] = rej
        return Check("FAIL", "; ".join(problems)) if problems else Check("pass")

    def score_tables(self, scores_csv: Path, scores: pd.DataFrame | None) -> Tables:
        """Every scores table written: the --out file (as of the date score printed) and each
        workspace snapshot scores_<as-of>.parquet."""
        out: Tables = {}
        if scores is not None:
            m = (
                re.search(r"as of (\d{4}-\d{2}-\d{2})", self.runs["score"].out)
                if "score" in self.runs
                else None
            )
            when = pd.Timestamp(m.group(1)) if m else last_day(self.loaded)
            if when is not None:
                out[scores_csv.name] = (scores, when)
        for p in sorted((self.ws / "scores").glob("scores_*.parquet")):
            try:
                out[p.name] = (pd.read_parquet(p), pd.Timestamp(p.stem.removeprefix("scores_")))
            except Exception as exc:  # noqa: BLE001
                self.r.info.setdefault("unreadable", []).append(f"{p.name}: {exc}")
        return out

    def check_one_row(self, tables: Tables, loaded: Store) -> Check:
        """Each table has exactly the customers with an order on or before its as-of date."""
        o = loaded.orders
        dates = naive_dates(o["order_date"])
        ids = o["customer_id"].astype(str)
        problems = []
        for name, (s, when) in tables.items():
            seen = set(ids[dates < when + pd.Timedelta(days=1)])
            got = s["customer_id"].astype(str)
            dup = int(got.duplicated().sum())
            missing, extra = seen - set(got), set(got) - seen
            if dup or missing or extra:
                problems.append(
                    f"{name} (as of {when.date()}): {len(got):,} rows for {len(seen):,} customers seen"
                    + (f", {dup} duplicated" if dup else "")
                    + (
                        f", {len(missing):,} missing (e.g. {sorted(missing)[:3]})"
                        if missing
                        else ""
                    )
                    + (
                        f", {len(extra):,} not seen by then (e.g. {sorted(extra)[:3]})"
                        if extra
                        else ""
                    )
                )
        return (
            Check("FAIL", "; ".join(problems))
            if problems
            else Check("pass", f"{len(tables)} tables")
        )

    def check_customers(self, want: int, loaded: Store) -> Check:
        """The distinct customers loaded = the file's distinct real customer ids (`want`)."""
        got = int(loaded.orders["customer_id"].astype(str).nunique())
        return (
            Check("pass", f"{got:,}")
            if got == want
            else Check("FAIL", f"{got:,} customers loaded, the file has {want:,} real customer ids")
        )

    def check_revenue(self, exp: Expected, loaded: Store) -> None:
        """Revenue = the file's customers' to the cent, and loaded + rejected = the file's."""
        c = self.r.checks
        revenue = float(loaded.orders["amount"].sum())
        acc = account(exp, self.rejects)
        self.r.info["accounting"] = acc
        cur = f" {exp.currencies[0]}" if len(exp.currencies) == 1 else ""
        diff = revenue - exp.customer_revenue
        detail = (
            f"loaded {revenue:,.2f}{cur}, the file's customers {exp.customer_revenue:,.2f}: "
            f"{diff:+,.2f}"
        )
        if exp.merchandise_revenue is not None and abs(
            revenue - exp.merchandise_revenue
        ) < CENT <= abs(diff):
            detail += " (the loaded figure is the merchandise revenue: Subtotal, without shipping, tax and tips)"
        elif acc.by_reason and abs(diff) >= CENT:
            lost = {
                k: v
                for k, v in acc.by_reason.items()
                if abs(v[1]) >= CENT and k not in acc.no_customer
            }
            if lost:
                detail += "; revenue in rejected rows: " + ", ".join(
                    f"{k} {v[1]:,.2f} ({v[0]} rows)" for k, v in lost.items()
                )
        c["revenue = file, to the cent"] = (
            Check("pass", detail) if abs(diff) < CENT else Check("FAIL", detail)
        )
        gap = revenue + acc.rejected_revenue - exp.file_total
        detail = (
            f"loaded {revenue:,.2f} + rejected {acc.rejected_revenue:,.2f} = {revenue + acc.rejected_revenue:,.2f}, "
            f"the file {exp.file_total:,.2f}: {gap:+,.2f}"
        )
        if acc.unmatched:
            detail += f"; {acc.unmatched}"
        if abs(gap) >= CENT and exp.copies and gap > 0:
            detail += (
                f" (the file has {exp.copies} order copies in overlapping exports: counted twice?)"
            )
        elif abs(gap) >= CENT:
            detail += " (rows lost or counted twice)"
        c["revenue accounted for"] = (
            Check("pass", detail)
            if abs(gap) < CENT and not acc.unmatched
            else Check("FAIL", detail)
        )

    def check_names(self, exp: Expected, scores: pd.DataFrame | None, drafts: list[dict]) -> Check:
        """Next best products are the file's product names, and no code is shown without its
        name (the chat's answers, the brief, the drafts)."""
        if not exp.names:
            return Check("n/a", "the file has no product names")
        problems = []
        if scores is not None:
            col = (
                "next_best_product_name"
                if "next_best_product_name" in scores.columns
                else "next_best_product"
            )
            if col in scores.columns:
                vals = scores[col].dropna().astype(str)
                vals = vals[vals.str.strip().ne("")]
                normed = vals.map(norm_text)
                codes = vals[normed.isin(exp.codes)]
                other = vals[~normed.isin(exp.codes) & ~normed.isin(exp.names)]
                if len(codes):
                    problems.append(
                        f"scores {col}: {len(codes):,} of {len(vals):,} are codes "
                        f"(e.g. {', '.join(sorted(set(codes))[:3])})"
                    )
                if len(other):
                    problems.append(
                        f"scores {col}: {len(other):,} are not product names of the file "
                        f"(e.g. {', '.join(sorted(set(other))[:3])})"
                    )
        texts = {k: v for k, v in self.texts.items() if k != "summary"}
        for d in drafts:
            texts[f"draft {d.get('id')}"] = f"{d.get('subject', '')}\n{d.get('body', '')}"
        shown = _codes_shown(texts, exp)
        if shown:
            problems.append("codes shown without their name: " + "; ".join(shown[:4]))
        rec, top = self.texts.get("chat:recommend"), self.r.info.get("top_customer")
        if rec and top and scores is not None:
            row = scores.loc[scores["customer_id"].astype(str) == top]
            col = (
                "next_best_product_name"
                if "next_best_product_name" in scores.columns
                else "next_best_product"
            )
            nbp = (
                str(row[col].iloc[0])
                if len(row) and col in row and pd.notna(row[col].iloc[0])
                else ""
            )
            name = nbp if norm_text(nbp) in exp.names else exp.code_to_name.get(norm_text(nbp), "")
            if name and norm_text(name) not in norm_text(rec):
                problems.append(
                    f"the chat's recommendation for {top} does not name {name!r}: {short(rec, 160)}"
                )
        return Check("FAIL", "; ".join(problems)) if problems else Check("pass")

    def check_currency(self, exp: Expected) -> Check:
        """The file's Currency values appear in the summary (and the brief) output."""
        if not exp.currencies:
            return Check("n/a", "the file has no Currency column")
        where = ["summary"] + (["brief"] if not self.quick else [])
        missing = [
            f"{cur} not in the {w} output"
            + ("" if self.r.steps[w].status == "ok" else f" (the {w} step failed)")
            for w in where
            for cur in exp.currencies
            if not re.search(rf"\b{re.escape(cur)}\b", self.texts.get(w, ""))
        ]
        return (
            Check("FAIL", "; ".join(missing))
            if missing
            else Check("pass", ", ".join(exp.currencies))
        )


def _read_rejects(path: str | None) -> pd.DataFrame | None:
    if not path or not Path(path).exists():
        return None
    rej = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "line" not in rej.columns:
        rej["line"] = ""
    if "reason" not in rej.columns:
        rej["reason"] = "(no reason column)"
    return rej


def _codes_shown(texts: dict[str, str], exp: Expected) -> list[str]:
    """Distinctive product codes (a letter and a digit, or a digit and '_' / '-') shown in
    free text without the product's name within 120 characters."""
    found: list[str] = []
    shaped = [
        c
        for c in exp.codes
        if len(c) >= 4
        and re.search(r"\d", c)
        and (re.search(r"[a-z]", c) or re.search(r"[_-]", c))
        and c not in exp.names
    ]
    if not shaped:
        return found
    for where, text in texts.items():
        low = norm_text(text)
        for code in shaped:
            for m in re.finditer(rf"(?<![\w-]){re.escape(code)}(?![\w-])", low):
                name = norm_text(exp.code_to_name.get(code, ""))
                near = low[max(0, m.start() - 120) : m.end() + 120]
                if not name or name not in near:
                    found.append(f"{code} in {where}")
                    break
    return found


SCORE_NUMBERS = (
    "orders_to_date",
    "revenue_to_date",
    "avg_days_between_orders",
    "p_alive",
    "expected_orders",
    "predicted_clv",
    "clv_low",
    "clv_high",
    "churn_probability",
)


def _check_finite(tables: Tables) -> Check:
    """Every numeric column of a Parquet snapshot (typed as written); of the CSV, the
    design's numeric score columns (a CSV column left empty reads back as NaN floats)."""
    problems = []
    for name, (s, _) in tables.items():
        num = s.select_dtypes(include=[np.number])
        if name.endswith(".csv"):
            num = s[[c for c in SCORE_NUMBERS if c in s.columns]].apply(
                pd.to_numeric, errors="coerce"
            )
        bad = {c: int((~np.isfinite(num[c].to_numpy(dtype=float))).sum()) for c in num.columns}
        bad = {c: n for c, n in bad.items() if n}
        if bad:
            problems.append(f"{name}: " + ", ".join(f"{c} {n:,}" for c, n in bad.items()))
        for col in ("predicted_clv", "churn_probability", "p_alive", "expected_orders"):
            if col in s.columns and col not in num.columns:
                problems.append(f"{name}: {col} is not numeric")
    return Check("FAIL", "non-finite: " + "; ".join(problems)) if problems else Check("pass")


def _check_placeholders(tables: Tables) -> Check:
    found: set[str] = set()
    for _, (s, _) in tables.items():
        ids = s["customer_id"].astype(str).str.strip()
        found |= set(
            ids[ids.str.lower().str.replace(r"\.0$", "", regex=True).isin(PLACEHOLDER_IDS)]
        )
    return Check("FAIL", f"scored placeholder ids: {sorted(found)}") if found else Check("pass")


def naive_dates(s: pd.Series) -> pd.Series:
    """Dates without their time zone (compared with the as-of dates)."""
    s = pd.to_datetime(s)
    return s.dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s


def last_day(loaded: Store | None) -> pd.Timestamp | None:
    """The day of the store's last order."""
    if loaded is None or not len(loaded.orders):
        return None
    return naive_dates(loaded.orders["order_date"]).max().normalize()
