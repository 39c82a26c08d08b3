"""The weekly retention brief: Markdown and HTML with charts, written to the workspace.

Every number in the brief comes from a tool result and is kept in `Brief.facts` under a
name; the text is rendered from those facts only (a test checks each number). Offline,
templates write the narrative; in LLM mode a `narrator(facts) -> str` writes the opening
paragraph from the same facts (and may only restate them).

Sections: KPIs with week-over-week change; last week's forecast against what happened
(`agent.reports.grading`); segment migration since last week; top at-risk high-value customers with
reasons and the product to suggest (by name); recommended plays with playbook citations (on the
save rates the store's measured campaigns taught); campaign results; what the campaigns taught
the plan; consent (what the files carry, who would be contacted but for unknown
consent, and how to supply it); drafts waiting for approval; model health (inner backtest of the
scoring models). Money is written in the store's currency (`agent.display.money`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from agent.display import product_label, product_names, store_currency
from agent.reports import charts
from agent.reports.render import render_html, render_markdown, template_opening
from agent.workspace import Workspace
from tools.files import atomic_write_text
from tools.insights.kpis import at_risk_mask, change, value_at_stake, week_kpis
from tools.insights.segments import migration_summary
from tools.schema import REASON_LABEL

if TYPE_CHECKING:
    from agent.settings import Settings


@dataclass
class Brief:
    week_ending: str
    facts: dict
    markdown: str
    html: str
    paths: dict[str, str] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)
    """The charts as data: URIs, by name (what brief.html embeds and the app shows)."""
    prompt_tokens: int = 0  # tokens sent to a language model for this brief (0 offline)


def scores_at(
    store, ws: Workspace, as_of: pd.Timestamp, *, horizon_days: int, progress
) -> tuple[pd.DataFrame, dict]:
    """Scores as of a date: the workspace snapshot when it is for this store, else scored now."""
    from agent.reports.snapshots import load_scores, save_scores

    day = str(as_of.date())
    try:
        scores, params = load_scores(ws, day)
        if params.get("store") == str(store.path) and params.get("horizon_days") == horizon_days:
            return scores, params
    except (FileNotFoundError, KeyError, ValueError):
        pass
    from tools.scoring.score import score_store  # LightGBM and friends: imported only when needed

    progress(f"scoring customers as of {day}")
    o = store.orders.loc[store.orders["order_date"] < as_of + pd.Timedelta(days=1)]
    res = score_store(
        o,
        as_of=as_of,
        horizon_days=horizon_days,
        events=store.events,
        tickets=store.tickets,
        products=store.products,
    )
    res.params["store"] = str(store.path)
    save_scores(ws, res, as_of=as_of, orders=o)
    return res.scores, res.params


def weekly_brief(
    store,
    *,
    workspace: Workspace,
    week_ending=None,
    cac: float | None = None,
    horizon_days: int = 365,
    settings: Settings,
    top_n: int = 10,
    narrator: Callable[[dict], str] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Brief:
    from agent.approvals.queue import open_queue
    from agent.outreach.prioritise import prioritise
    from agent.reports import grading as G
    from agent.reports.campaigns import open_control_groups, store_campaigns
    from knowledge import builtin_playbook_dir, load_playbooks

    currency = store_currency(getattr(store, "currency", None), settings)
    end = (
        pd.Timestamp(week_ending).normalize()
        if week_ending
        else store.orders["order_date"].max().normalize()
    )
    now_scores, params = scores_at(
        store, workspace, end, horizon_days=horizon_days, progress=progress
    )
    week_before = end - pd.Timedelta(days=7)
    if (store.orders["order_date"] < week_before + pd.Timedelta(days=1)).any():
        prev_scores, _ = scores_at(
            store, workspace, week_before, horizon_days=horizon_days, progress=progress
        )
    else:  # the history starts this week: nothing to compare with
        prev_scores = now_scores.iloc[:0]
    progress("computing KPIs, migration and plays")
    k_now = week_kpis(store.orders, now_scores, as_of=end, cac=cac)
    k_prev = (
        week_kpis(store.orders, prev_scores, as_of=week_before, cac=cac)
        if len(prev_scores)
        else None
    )
    facts: dict = {"kpi": k_now, "kpi_change": change(k_now, k_prev), "currency": currency}
    mig = migration_summary(
        prev_scores[["customer_id", "segment"]], now_scores[["customer_id", "segment"]]
    )
    facts["migration"] = mig.to_dict("records")
    risky = now_scores[(now_scores["clv_tier"] == "high") & at_risk_mask(now_scores)]
    top = risky.assign(at_stake=value_at_stake(risky)).nlargest(top_n, "at_stake")
    names = product_names(store.orders, store.products)
    facts["at_risk"] = [
        {
            "customer_id": r.customer_id,
            "predicted_clv": float(r.predicted_clv),
            "churn_probability": float(r.churn_probability),
            "reason": REASON_LABEL.get(r.churn_reason, "no clear driver"),
            "segment": r.segment,
            "next_best_product": product_label(getattr(r, "next_best_product", ""), names),
        }
        for r in top.itertuples()
    ]
    playbooks = list(load_playbooks([builtin_playbook_dir()]).playbooks)
    # only this store's drafts and consent confirmations: a workspace may hold other stores' too
    queue = open_queue(workspace.root, url=settings.database_url)
    progress("grading last week's forecast and the campaigns")
    facts["forecast_check"] = G.forecast_facts(
        store, workspace, end, horizon_days=horizon_days, queue=queue
    )
    facts["campaigns"] = G.campaign_facts(queue, store, end)
    facts["campaign_level"] = G.CAMPAIGN_LEVEL
    rates, facts["learning"] = G.learning_facts(queue, store, playbooks, end)
    plan_kw = dict(
        settings=settings,
        week_of=end.date(),
        campaign_id=f"brief-{end.date()}",
        currency=currency,
        confirmed=queue.consent_confirmations(store.path),
        held_out=open_control_groups(queue, store.path, week_of=end),
    )
    plan = prioritise(now_scores, store.customers, playbooks, save_rates=rates, **plan_kw)
    chosen = plan.chosen_frame()
    if facts["learning"][
        "plays"
    ]:  # what the learnt rates changed: the plan on the playbooks' priors
        before = (
            prioritise(now_scores, store.customers, playbooks, **plan_kw)
            .chosen_frame()["playbook_id"]
            .value_counts()
        )
        after = chosen["playbook_id"].value_counts()
        for p in facts["learning"]["plays"]:
            p["customers_prior"] = int(before.get(p["playbook_id"], 0))
            p["customers_learned"] = int(after.get(p["playbook_id"], 0))
    plays = (
        chosen.groupby(["playbook_id", "playbook_title"])
        .agg(customers=("customer_id", "size"), expected_value=("expected_value", "sum"))
        .reset_index()
        .sort_values("expected_value", ascending=False)
    )
    facts["plays"] = plays.to_dict("records")
    facts["control_group"] = len(plan.control_ids)
    facts["consent"] = _consent_facts(plan)
    mine = set(store_campaigns(queue, store.path)[0])
    waiting = Counter(d.status for d in queue.list_drafts() if d.campaign_id in mine)  # one read
    facts["drafts_pending"], facts["drafts_approved"] = waiting["pending"], waiting["approved"]
    facts["model"] = model_health(params)
    facts["horizon"] = horizon_facts(horizon_days)
    brief = Brief(str(end.date()), facts, "", "")
    out = workspace.sub("briefs") / f"brief_{end.date()}"
    out.mkdir(parents=True, exist_ok=True)
    progress("drawing charts")
    for name, fig in (
        (
            "clv_distribution",
            charts.clv_distribution(now_scores, horizon_days=horizon_days, currency=currency),
        ),
        ("churn_by_segment", charts.churn_by_segment(now_scores, horizon_days=horizon_days)),
        ("segment_migration", charts.segment_migration(mig)),
    ):
        png = charts.png_bytes(fig)
        (out / f"{name}.png").write_bytes(png)  # kept next to the Markdown file, which links them
        brief.paths[name] = str(out / f"{name}.png")
        brief.images[name] = charts.data_uri(png)
    opening = narrator(facts) if narrator else template_opening(facts)
    brief.prompt_tokens = getattr(narrator, "prompt_tokens", 0)
    brief.markdown = render_markdown(facts, end, opening)
    brief.html = render_html(
        brief.markdown,
        images={f"{k}.png": v for k, v in brief.images.items()},
        title=f"Weekly retention brief — week ending {end.date()}",
    )
    for ext, text in (
        ("md", brief.markdown),
        ("html", brief.html),
        ("json", json.dumps(facts, indent=2, default=str)),
    ):
        brief.paths[ext] = str(atomic_write_text(out / f"brief.{ext}", text))
    return brief


def _consent_facts(plan) -> dict:
    """What the brief says about consent: the plan's summary of the files, and who would be
    contacted this week but for unknown consent (top 5, with why), and how to supply it."""
    from agent.outreach.consent import CHANNEL_KIND, how_to_supply, statement

    kinds = sorted({CHANNEL_KIND[r["channel"]] for r in plan.awaiting_consent}) or ["email"]
    return {
        "statement": statement(plan.consent),
        "awaiting_total": int(plan.awaiting_total),
        "awaiting_this_week": len(plan.awaiting_consent),
        "awaiting": [
            {
                "customer_id": r["customer_id"],
                "playbook_title": r["playbook_title"],
                "channel": r["channel"],
                "churn_probability": float(r["churn_probability"]),
                "clv": float(r["clv"]),
                "expected_value": float(r["expected_value"]),
                "reason": REASON_LABEL.get(r["churn_reason"], r["churn_reason"]),
            }
            for r in plan.awaiting_consent[:5]
        ],
        "how_to_supply": how_to_supply(kinds),
        "summary": {k: v for k, v in plan.consent.items() if isinstance(v, dict)},
    }


def horizon_facts(days: int) -> dict:
    """The prediction window as the brief names it ("12 months"), and its numbers as facts."""
    words = charts.horizon_words(days)
    return {"days": int(days), "words": words, "number": int(words.split()[0])}


def model_health(params: dict) -> dict:
    prob = params.get("probabilistic", {})
    inner = params.get("ml", {}).get("inner_backtest", {})
    health = {
        "purchase_model": prob.get("model"),
        "converged": bool(prob.get("converged")),
        "choice": params.get("model_choice", {}),
    }
    if inner:
        health["auc_ml"] = inner.get("churn", {}).get("ml")
        health["auc_bgnbd"] = inner.get("churn", {}).get("bgnbd")
        health["held_out"] = inner.get("held_out_customers")
        health["held_out_who"] = inner.get("held_out", "held-out customers")
    rows = [
        r
        for r in params.get("model_selection", {}).get("per_cutoff", [])
        if "ml" in r.get("churn", {})
    ]
    if rows:  # the evidence of the choice: rolling-origin backtests (tools.scoring.score)

        def mean(key):  # over the cutoffs where it could be judged (NaN: one class only)
            v = [r["churn"][key] for r in rows if r["churn"][key] == r["churn"][key]]
            return sum(v) / len(v) if v else None

        health["auc_ml"], health["auc_bgnbd"] = mean("ml"), mean("bgnbd")
        health["held_out"] = int(sum(r["customers"] for r in rows))
        health["held_out_who"] = f"customers judged at {len(rows)} rolling-origin cutoffs"
    health["selection"] = params.get("model_selection", {}).get("evidence", {})
    health["warnings"] = list(params.get("warnings", []))
    return health
