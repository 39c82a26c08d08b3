"""Measured campaign results: treated vs the held-out control group.

For a campaign starting on its `week_of` date and a window of `window_days` (default 56, the
8 weeks of the holdout-measurement playbook), per group:

    repurchase rate  = customers with an order (amount > 0) in [start, start + window) / group size
    revenue per customer = net amount (returns included) in the window / group size

    save rate (uplift) = rate_treated − rate_control, with a 95% interval by Newcombe's hybrid
        score method (Newcombe 1998, "Interval estimation for the difference between independent
        proportions", Statistics in Medicine 17, method 10): Wilson intervals (l_i, u_i) per group,
        L = d − sqrt((p_t − l_t)² + (u_c − p_c)²),  U = d + sqrt((u_t − p_t)² + (p_c − l_c)²);
        it keeps its coverage for small groups and rates near 0 or 1, where Wald's does not.
    revenue difference = mean_treated − mean_control, with a 95% Welch interval
        (Welch 1947; Satterthwaite degrees of freedom), zeros included for non-buyers.

Treated means every customer the plan chose (intention to treat): drafts a person rejected
still count, so the uplift is that of running the campaign as planned, diluted by what was not
sent; `contacted` says how many drafts were exported.

Issue 18 adds what a merchant needs to read a result: `kept_share` (the share of would-be
lapsers the campaign kept, uplift / (1 − control rate): the save rate `s` of the plan's expected
value and of `agent.reports.learning`, where `uplift` is the save rate in the repurchase-rate sense
above) with its interval, `incremental_buyers` and `incremental_revenue` (per-customer differences times
the treated group, with their intervals), and a `status`: "too early" while the window is
open, "too few to tell" when the interval still spans zero and the groups are smaller than a
power calculation asks for (`customers_needed`: two proportions, 5% two-sided, 80% power, at
the control's rate and the uplift the plan expected, with the campaign's treated:control
ratio; Fleiss, Levin & Paik 2003, eq. 4.14 without continuity correction), "no clear effect"
when they were big enough, else "it worked" or "it backfired".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from tools.insights.experiments import customers_needed, newcombe_difference, welch_difference

DEFAULT_WINDOW_DAYS = 56


def _get(obj: Any, name: str, default=None):
    return obj.get(name, default) if isinstance(obj, Mapping) else getattr(obj, name, default)


def campaign_results(
    orders: pd.DataFrame,
    campaign: Any,
    *,
    window_days: int | None = None,
    contacted: int | None = None,
) -> pd.DataFrame:
    """One row per campaign (`campaign`: a stored campaign, a Plan, or a mapping with id,
    week_of, treated_ids, control_ids): group sizes, repurchase rates, the save rate with its
    Newcombe 95% interval, revenue per customer and the Welch 95% interval of its difference.
    `complete` is False while the window reaches past the last order in the data. The window
    is `window_days`, else the one recorded with the campaign (`settings["window_days"]`),
    else DEFAULT_WINDOW_DAYS. See the module docstring for `status` and the added fields."""
    recorded = _get(campaign, "settings") or {}
    window = int(window_days or recorded.get("window_days") or DEFAULT_WINDOW_DAYS)
    start = pd.Timestamp(_get(campaign, "week_of")).normalize()
    end = start + pd.Timedelta(days=window)
    treated = pd.Index(pd.unique(pd.Series(list(_get(campaign, "treated_ids") or []), dtype=str)))
    control = pd.Index(pd.unique(pd.Series(list(_get(campaign, "control_ids") or []), dtype=str)))
    control = control.difference(treated)
    o = orders.loc[(orders["order_date"] >= start) & (orders["order_date"] < end)]
    cid = o["customer_id"].astype(str)
    buyers = set(cid[o["amount"] > 0])
    revenue = o["amount"].groupby(cid).sum()
    bt = int(sum(c in buyers for c in treated))
    bc = int(sum(c in buyers for c in control))
    d, lo, hi = newcombe_difference(bt, len(treated), bc, len(control))
    rt = revenue.reindex(treated, fill_value=0.0).to_numpy(float)
    rc = revenue.reindex(control, fill_value=0.0).to_numpy(float)
    rd, rlo, rhi = welch_difference(rt, rc)
    last = orders["order_date"].max() if len(orders) else start
    row = {
        "campaign_id": _get(campaign, "id") or _get(campaign, "campaign_id"),
        "start": start.date().isoformat(),
        "end": (end - pd.Timedelta(days=1)).date().isoformat(),
        "window_days": window,
        "treated": len(treated),
        "control": len(control),
        "contacted": contacted,
        "treated_buyers": bt,
        "control_buyers": bc,
        "treated_rate": bt / len(treated) if len(treated) else float("nan"),
        "control_rate": bc / len(control) if len(control) else float("nan"),
        "uplift": d,
        "uplift_low": lo,
        "uplift_high": hi,
        "uplift_ci_method": "Newcombe hybrid score (method 10), 95%",
        "treated_revenue_per_customer": rt.mean() if rt.size else float("nan"),
        "control_revenue_per_customer": rc.mean() if rc.size else float("nan"),
        "revenue_difference": rd,
        "revenue_low": rlo,
        "revenue_high": rhi,
        "revenue_ci_method": "Welch t, 95%",
        "complete": bool(last >= end - pd.Timedelta(days=1)),
    }
    row.update(_reading(row, expected_save_rate(recorded, treated)))
    return pd.DataFrame([row])


def expected_save_rate(settings: Mapping, treated) -> float | None:
    """The save rate the plan expected: the treated customers' plays' rates (`save_rates`,
    `arms` in the campaign's settings), averaged over the treated; None when not recorded."""
    rates, arms = settings.get("save_rates") or {}, settings.get("arms") or {}
    got = [rates[arms[c][0]] for c in treated if c in arms and arms[c][0] in rates]
    return float(np.mean(got)) if got else (float(np.mean(list(rates.values()))) if rates else None)


def _reading(r: dict, save: float | None) -> dict:
    """The fields a merchant reads a result by (module docstring)."""
    nt, nc, pc = r["treated"], r["control"], r["control_rate"]
    out: dict[str, float | int | str | None] = {
        "kept_share": float("nan"),
        "kept_share_low": float("nan"),
        "kept_share_high": float("nan"),
        "incremental_buyers": float("nan"),
        "incremental_buyers_low": float("nan"),
        "incremental_buyers_high": float("nan"),
        "incremental_revenue": float("nan"),
        "incremental_revenue_low": float("nan"),
        "incremental_revenue_high": float("nan"),
        "expected_save_rate": save,
        "customers_needed": None,
        "treated_needed": None,
        "control_needed": None,
    }
    if nt and nc:
        keep = 1 - pc if pc < 1 else float("nan")
        out.update(
            kept_share=r["uplift"] / keep,
            kept_share_low=r["uplift_low"] / keep,
            kept_share_high=r["uplift_high"] / keep,
            incremental_buyers=r["uplift"] * nt,
            incremental_buyers_low=r["uplift_low"] * nt,
            incremental_buyers_high=r["uplift_high"] * nt,
            incremental_revenue=r["revenue_difference"] * nt,
            incremental_revenue_low=r["revenue_low"] * nt,
            incremental_revenue_high=r["revenue_high"] * nt,
        )
        target = (save if save else max(abs(r["uplift"]), 0.02)) * (1 - pc)
        need = customers_needed(pc, target, ratio=nt / nc)
        if need:
            out.update(
                treated_needed=need[0], control_needed=need[1], customers_needed=need[0] + need[1]
            )
    if not r["complete"]:
        status = "too early"
    elif not (nt and nc) or not (r["uplift_low"] > 0 or r["uplift_high"] < 0):
        big = (
            out["customers_needed"] is not None
            and nt >= out["treated_needed"]
            and nc >= out["control_needed"]
        )
        status = "no clear effect" if big else "too few to tell"
    else:
        status = "it worked" if r["uplift_low"] > 0 else "it backfired"
    out["status"] = status
    return out


def list_campaigns(queue) -> list:
    """The campaigns recorded in an approval queue (CampaignRow objects), oldest week first."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from agent.approvals.database import CampaignRow

    with Session(queue.engine, expire_on_commit=False) as s, s.begin():
        return list(
            s.scalars(select(CampaignRow).order_by(CampaignRow.week_of, CampaignRow.created_at))
        )


def campaign_store(workspace, queue, store=None, *, demo: bool = False):
    """The store (tools.ingest.load.Store) that campaign commands read customers and orders from:
    `store`, else the workspace's demo store when `demo`, else the one store the queued
    campaigns were planned on. ApprovalError (one line) when that is missing or ambiguous."""
    from pathlib import Path

    from agent.approvals.errors import ApprovalError
    from agent.workspace import Workspace
    from tools.ingest.load import load_store

    ws = workspace if isinstance(workspace, Workspace) else Workspace.at(workspace)
    if store is None and demo:
        store = ws.demo_store
    if store is None:
        paths = {c.store_path for c in list_campaigns(queue) if c.store_path}
        if len(paths) != 1:
            raise ApprovalError(
                f"which store? give --store DIR (the campaigns name {len(paths)} different stores)"
                if paths
                else "which store? give --store DIR or --demo"
            )
        store = Path(paths.pop())
    if not Path(store).exists():
        raise ApprovalError(f"{store}: no such store folder")
    return load_store(Path(store), rejects_dir=ws.rejects)


def export_approved(
    workspace,
    queue,
    *,
    actor: str,
    store=None,
    demo: bool = False,
    out=None,
    again: str | int | None = None,
):
    """Approved drafts as a CSV for Klaviyo / Shopify Email (`queue.export`), or an earlier
    export written again (`again`: its id or path); names and emails are filled locally from
    the store's customers file (`campaign_store`). Returns the ExportResult. Nothing is sent."""
    from agent.approvals.errors import ApprovalError
    from agent.workspace import Workspace

    ws = workspace if isinstance(workspace, Workspace) else Workspace.at(workspace)
    st = campaign_store(ws, queue, store, demo=demo)
    customers = st.customers
    if customers is None:
        raise ApprovalError(
            "the store has no customers file: the export takes emails and names from it "
            "(add customers.csv with customer_id, email, first_name to the store folder)"
        )
    # a workspace may hold several stores' campaigns, and their customer ids may coincide: a
    # draft is rendered only with the customers file of the store it was planned on
    mine, elsewhere = store_campaigns(queue, st.path)
    if again is not None:
        return queue.export_again(
            again, customers, out=out, actor=actor, campaigns=mine, exports_dir=ws.exports
        )
    res = queue.export(
        customers,
        exports_dir=ws.exports,
        out=out,
        actor=actor,
        campaigns=mine,
        confirmed=queue.consent_confirmations(st.path),
    )
    held = [
        f"draft {d.id}: planned on another store ({elsewhere[d.campaign_id]}); export it with "
        "--store pointing there"
        for d in queue.list_drafts(state="approved")
        if d.campaign_id in elsewhere
    ]
    return res._replace(skipped=res.skipped + held) if held else res


def store_campaigns(queue, store_path) -> tuple[list[str], dict[str, str]]:
    """(ids of the campaigns planned on `store_path` or on no recorded store, {id: store path}
    of the other stores' campaigns). In a workspace shared by several stores the same customer
    id in another store is another person: exports, the contact log and the brief's draft
    counts look only at the first list."""
    mine, elsewhere = [], {}
    for c in list_campaigns(queue):
        if on_store(c, store_path):
            mine.append(c.id)
        else:
            elsewhere[c.id] = c.store_path
    return mine, elsewhere


def on_store(campaign, store_path) -> bool:
    """Whether a campaign was planned on `store_path` (or on no recorded store)."""
    return campaign.store_path is None or _same_store(campaign.store_path, store_path)


def _same_store(a, b) -> bool:
    from pathlib import Path

    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return str(a) == str(b)


def all_campaign_results(
    queue, orders: pd.DataFrame, *, window_days: int | None = None
) -> pd.DataFrame:
    """`campaign_results` for every campaign in an approval queue, oldest first (each with its
    own recorded window unless `window_days` is given)."""
    drafts = queue.list_drafts()
    frames = []
    for c in list_campaigns(queue):
        sent = sum(1 for d in drafts if d.campaign_id == c.id and d.exported_at is not None)
        frames.append(campaign_results(orders, c, window_days=window_days, contacted=sent))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def contact_log(queue, store_path=None) -> pd.DataFrame:
    """customer_id, contacted_on (the campaign's week), campaign_id for every draft that was
    not rejected or blocked: the input of `prioritise`'s frequency cap and weekly budget. With
    `store_path`, only campaigns of that store (or of no recorded store): in a workspace shared
    by several stores, the same id in another store is another person."""
    camps = [c for c in list_campaigns(queue) if store_path is None or on_store(c, store_path)]
    weeks = {c.id: pd.Timestamp(c.week_of) for c in camps}
    rows = [
        (d.customer_id, weeks[d.campaign_id], d.campaign_id)
        for d in queue.list_drafts()
        if d.state not in ("rejected", "blocked") and d.campaign_id in weeks
    ]
    return pd.DataFrame(rows, columns=["customer_id", "contacted_on", "campaign_id"])


def split_ids(ids: Iterable[str], *, share: float, seed: int) -> tuple[list[str], list[str]]:
    """(treated, control): a seeded random split, for measuring a list outside a plan."""
    ids = list(ids)
    rng = np.random.default_rng(seed)
    hold = rng.random(len(ids)) < share
    return [i for i, h in zip(ids, hold) if not h], [i for i, h in zip(ids, hold) if h]


def open_control_groups(queue, store_path=None, *, week_of) -> dict[str, str]:
    """{customer id: why} for the control groups of campaigns whose measurement window is
    still open on `week_of`: they stay uncontacted until it closes, or the comparison is spoilt."""
    week = pd.Timestamp(week_of).normalize()
    out: dict[str, str] = {}
    for c in list_campaigns(queue):
        if store_path is not None and not on_store(c, store_path):
            continue
        start = pd.Timestamp(c.week_of)
        end = start + pd.Timedelta(
            days=int((c.settings or {}).get("window_days") or DEFAULT_WINDOW_DAYS)
        )
        if start <= week < end:
            why = (
                f"control group of campaign {c.id}: held out until {(end - pd.Timedelta(days=1)).date()} "
                "so its result can be measured"
            )
            out.update(dict.fromkeys(map(str, c.control_ids or []), why))
    return out
