"""The revenue in the rejected rows: each row of a rejects file matched to the file's own row
(by its line number, counted in rows or physical lines, checked against the row's values),
summed by reason with the eval's own amount per row, an order in several exports counted in
the one copy that was kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from evals.quality.real_stores.expected import Expected


@dataclass
class Accounting:
    """The rejected rows' revenue: in all, by reason, and the rejects that matched no row."""

    rejected_revenue: float = 0.0
    by_reason: dict[str, tuple[int, float]] = field(
        default_factory=dict
    )  # reason -> (rows, revenue)
    no_customer: set[str] = field(default_factory=set)  # reasons whose rows had no customer
    unmatched: str = ""


def account(exp: Expected, rejects: dict[str, pd.DataFrame]) -> Accounting:
    """The revenue in the rejected rows, by reason, with the eval's own amount per row; an
    order in several exports counts in the one copy that was kept (a copy with an accepted
    row, the latest export's otherwise)."""
    acc = Accounting()
    lines = exp.lines.copy()
    lines["rejected"] = False
    lines["reason"] = ""
    unmatched = []
    for file, rej in rejects.items():
        mine = lines.loc[lines["file"] == file]
        if mine.empty or rej.empty:
            continue
        nums = pd.to_numeric(rej["line"], errors="coerce")
        idx = _match(mine, rej, nums)
        if idx is None:
            unmatched.append(
                f"{file}: rejected rows do not match the file's rows at their line numbers"
            )
            continue
        ok = idx.notna()
        lines.loc[idx[ok].astype(int), "rejected"] = True
        lines.loc[idx[ok].astype(int), "reason"] = (
            rej.loc[ok, "reason"]
            .astype(str)
            .str.replace(r"^'.*' is not", "value is not", regex=True)
            .to_numpy()
        )
    several = lines["key"].map(lines.groupby("key")["file"].nunique()) > 1
    kept_copy = {}
    for key, grp in lines.loc[several].groupby("key", sort=False):  # orders in overlapping exports
        fs = grp["file"].unique()
        live = grp.loc[~grp["rejected"], "file"].unique()
        kept_copy[key] = (live if len(live) else fs)[-1]
    rep = lines.loc[~several | lines["file"].eq(lines["key"].map(kept_copy))]
    rej = rep.loc[rep["rejected"]]
    for reason, g in rej.groupby("reason"):
        acc.by_reason[reason] = (len(g), float(g.loc[g["revenue"], "amount"].sum()))
        if not g["customer"].any():
            acc.no_customer.add(reason)
    acc.rejected_revenue = float(rej.loc[rej["revenue"], "amount"].sum())
    acc.unmatched = "; ".join(unmatched)
    return acc


def _match(mine: pd.DataFrame, rej: pd.DataFrame, nums: pd.Series) -> pd.Series | None:
    """Index into `mine` of each rejected row, by line number counted in row order or in
    physical lines, whichever matches the rows' own values (when the rejects carry them)."""
    col = mine["verify_col"].iloc[0]
    best = None
    for basis in ("line", "phys"):
        where = pd.Series(mine.index, index=mine[basis].to_numpy())
        where = where[~where.index.duplicated()]
        idx = pd.Series(nums.map(where).to_numpy(), index=rej.index)
        if col in rej.columns:
            got = rej[col].astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
            want = pd.Series(
                mine["verify"].reindex(idx.fillna(-1).astype(int).to_numpy()).to_numpy(),
                index=rej.index,
            )
            hit = (got == want.astype(str)) | got.eq("")
            if hit.mean() > 0.99:
                return idx
            continue
        best = best if best is not None else idx
    return best
