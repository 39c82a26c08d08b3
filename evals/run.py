"""`retention eval [--quick]`: every evaluation in one Markdown report.

Sections: scoring backtests (CDNOW against the published parameters and baselines; the demo
store against baselines), churn-reason recovery on the demo store's planted causes,
retrieval recall@3 and MRR, guardrail red-team drafts, agent scenarios (merchant requests run
through the assistant offline, and with a model when one is configured: `evals.quality.agent`),
the loop that grades itself (8 simulated weeks on a 20,000-customer demo store: posterior save
rates against the planted effects, uplift ranking against risk ranking; `evals.quality.loop`, full
run only), planner routing (merchant phrasings, dev and held-out, that reach the right tools;
held-out only in `--quick`), and the time each section took. `--quick` is the subset `make test` runs (smaller
demo stores, one retrieval pass; every agent scenario, offline). The report is printed and written to
`<workspace>/evals/report_<timestamp>.md`.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from importlib.resources import files
from pathlib import Path

import pandas as pd
import yaml

PUBLISHED_CDNOW = {"r": 0.243, "alpha": 30.895, "a": 0.793, "b": 2.426}  # FHL (2005), days
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "v": 15.44}


@dataclass
class Report:
    sections: list[tuple[str, str]] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def markdown(self) -> str:
        lines = [f"# Retention agent evaluation ({datetime.now():%Y-%m-%d %H:%M})", ""]
        lines += ["| check | result |", "|---|---|"]
        lines += [f"| {k} | {'pass' if v else 'FAIL'} |" for k, v in self.checks.items()]
        for title, body in self.sections:
            lines += ["", f"## {title}", "", body]
        lines += ["", "## Timings", "", "| section | seconds |", "|---|---|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in self.timings.items()]
        return "\n".join(lines) + "\n"


def _table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    out = ["| " + " | ".join(["metric"] + cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for idx, row in df.iterrows():
        out.append("| " + " | ".join([str(idx)] + [_f(row[c]) for c in cols]) + " |")
    peer = df.attrs.get("peers", {}).get("pymc_marketing")
    if peer and peer != "used":  # tools.scoring.backtest: not installed (how to), or it failed
        out += ["", f"Second peer: {peer}."]
    return "\n".join(out)


def _f(v) -> str:
    return "n/a" if pd.isna(v) else (f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}")


def _timed(report: Report, name: str):
    class _T:
        def __enter__(self):
            self.t = time.perf_counter()

        def __exit__(self, *exc):
            report.timings[name] = time.perf_counter() - self.t

    return _T()


def eval_cdnow(report: Report, tmp: Path) -> None:
    from evals.quality.cdnow import CALIBRATION_END, HOLDOUT_DAYS, write_store
    from tools.ingest.load import load_orders
    from tools.models import clv
    from tools.models.rfm import rfm_summary
    from tools.scoring.backtest import project_wins, run_backtest

    orders, _ = load_orders(write_store(tmp / "cdnow"))
    rfm = rfm_summary(orders, as_of=CALIBRATION_END)
    fitted = clv.fit_clv(rfm, model="bgnbd")
    p = fitted.params
    gg = fitted.spend_params or {}
    rows = [(k, PUBLISHED_CDNOW[k], p[k]) for k in PUBLISHED_CDNOW]
    rows += [(k, PUBLISHED_GG[k], gg.get(k, float("nan"))) for k in PUBLISHED_GG]
    ok = all(abs(got - want) / want < 0.005 for _, want, got in rows)
    report.checks["CDNOW parameters match Fader, Hardie & Lee (2005) to 3 s.f."] = ok
    body = ["| parameter | published | fitted |", "|---|---|---|"]
    body += [f"| {k} | {want} | {got:.4f} |" for k, want, got in rows]
    table = run_backtest(orders, as_of=CALIBRATION_END, horizon_days=HOLDOUT_DAYS)
    wins = project_wins(table)
    # churn AUC is left out: the published split is too short for the rolling-origin choice
    # of the churn model (tools.scoring.score), so BG/NBD's stands against the naive rate's ranking
    report.checks[
        "CDNOW backtest: project at least as good as the better baseline, every "
        "metric but churn AUC"
    ] = all(v for k, v in wins.items() if k != "auc_no_purchase")
    report.sections.append(
        (
            "Scoring: CDNOW (calibration to 1997-09-30, 39-week holdout)",
            "\n".join(body) + "\n\n" + _table(table),
        )
    )


def eval_demo(report: Report, tmp: Path, *, customers: int) -> None:
    from tools.demo.store import generate_store
    from tools.ingest.load import load_store
    from tools.scoring.backtest import project_wins, run_backtest
    from tools.scoring.score import score_store

    generate_store(tmp / "demo", customers=customers, seed=7)
    st = load_store(tmp / "demo")
    end = st.orders["order_date"].max().normalize()
    table = run_backtest(
        st.orders,
        as_of=end - pd.Timedelta(days=90),
        horizon_days=90,
        events=st.events,
        tickets=st.tickets,
        products=st.products,
    )
    wins = project_wins(table)
    report.checks["Demo backtest: project beats both baselines on churn AUC and MAE"] = (
        wins["auc_no_purchase"] and wins["mae_orders"]
    )
    lost = [k for k, v in wins.items() if not v]
    note = f"\n\nMetrics where a baseline is closer: {', '.join(lost)}." if lost else ""
    report.sections.append(
        (f"Scoring: demo store ({customers:,} customers, 90-day holdout)", _table(table) + note)
    )
    res = score_store(
        st.orders,
        as_of=end,
        horizon_days=365,
        events=st.events,
        tickets=st.tickets,
        products=st.products,
    )
    truth = pd.read_csv(tmp / "demo" / "ground_truth.csv", dtype=str)
    planted = truth[truth["planted_cause"].notna()].set_index("customer_id")["planted_cause"]
    got = res.scores.set_index("customer_id").loc[planted.index, "churn_reason"]
    per = (got == planted).groupby(planted).mean()
    precision = float((got == planted).mean())
    report.checks["Churn reasons: top reason = planted cause for at least 80%"] = precision >= 0.8
    body = ["| planted cause | customers | top reason matches |", "|---|---|---|"]
    body += [f"| {c} | {int((planted == c).sum())} | {v:.1%} |" for c, v in per.items()]
    body.append(f"| all | {len(planted)} | {precision:.1%} |")
    report.sections.append(("Churn reason recovery (demo store ground truth)", "\n".join(body)))


def eval_retrieval(report: Report, tmp: Path, *, runs: int) -> None:
    from evals.quality.retrieval import SPLITS, TARGETS, run_retrieval_eval
    from knowledge import KnowledgeBase

    kb = KnowledgeBase(tmp / "chroma")
    kb.index()
    body = [
        "| split | cases | recall@3 | hit@3 | MRR | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for split in SPLITS:  # dev (tuned on), then the frozen held-out splits (only measured)
        r = run_retrieval_eval(kb, split=split, runs=runs)
        report.checks[f"Retrieval recall@3 >= {TARGETS[split]:.2f} ({split})"] = (
            r["recall@3"] >= TARGETS[split]
        )
        body.append(
            f"| {split} | {r['cases']} | {r['recall@3']:.3f} | {r['hit@3']:.3f} | "
            f"{r['mrr']:.3f} | {r['latency_ms_p50']:.1f} | {r['latency_ms_p95']:.1f} |"
        )
    report.sections.append(("Retrieval (playbooks)", "\n".join(body)))


def eval_guardrails(report: Report) -> None:
    from agent.outreach.guardrails import check_text

    cases = yaml.safe_load((files("evals") / "data" / "redteam_drafts.yaml").read_text())
    body = ["| case | expected | blocked by |", "|---|---|---|"]
    ok = True
    for c in cases:
        flags = check_text(
            c["subject"],
            c["body"],
            offer=c.get("offer", ""),
            offer_percent=c.get("offer_percent"),
            discount_cap=0.15,
        )
        blocks = sorted({f.rule for f in flags if f.severity == "block"})
        hit = c["expect"] in blocks
        ok &= hit
        body.append(f"| {c['name']} | {c['expect']} | {', '.join(blocks) or 'nothing'} |")
    report.checks["Guardrails block every red-team draft"] = ok
    report.sections.append(("Guardrails red team", "\n".join(body)))


def eval_agent(report: Report, tmp: Path, *, customers: int, progress=lambda _: None) -> None:
    from evals.quality.agent import MUST_NOT, evaluate, table
    from knowledge import KnowledgeBase

    chroma = tmp / "chroma"  # the retrieval section's index: already built, not embedded again
    results, skipped = evaluate(
        tmp, customers=customers, kb=KnowledgeBase(chroma), progress=progress
    )
    lines = [
        f"Merchant requests from `evals/data/agent_scenarios.yaml`, on a {customers:,}-customer demo "
        "store with instructions planted in a support ticket, a product name and customer notes. "
        "Each must call its tools and state facts taken from those tools' results; none may show "
        + ", ".join(MUST_NOT)
        + "."
    ]
    for mode, outcomes in results.items():
        ok = sum(o.ok for o in outcomes)
        report.checks[f"agent scenarios ({mode}): {ok}/{len(outcomes)} pass"] = ok == len(outcomes)
        lines.append(f"- {mode}: {ok}/{len(outcomes)} pass")
    if skipped:
        lines.append(f"- LLM mode: skipped, {skipped}.")
    lines += ["", table([o for outcomes in results.values() for o in outcomes])]
    report.sections.append(("Agent scenarios", "\n".join(lines)))


def eval_loop(
    report: Report, tmp: Path, *, customers: int, weeks: int, progress=lambda _: None
) -> None:
    """The loop that grades itself (`evals.quality.loop`): posteriors against the planted effects,
    uplift ranking against risk ranking."""
    from evals.quality.loop import run_loop_eval

    res = run_loop_eval(customers=customers, weeks=weeks, workdir=tmp / "loop", progress=progress)
    report.checks.update(res["checks"])
    report.sections.extend(res["sections"])


BLIND_SPLITS = (
    "held-out 2",
    "held-out 3",
    "held-out 4",
    "held-out 5",
    "held-out 6",
    "held-out 7",
    "held-out 8",
    "held-out 9",
    "held-out 10",
)
"""The routing splits written blind (by someone who had not read the planner), never read to
tune on: the clean measures. Held-out 3 was written with dev 2 and scored once before any
tuning on dev 2 (118/149, 79.2%); held-out 4 with dev 3, scored once before either was used
(168/206, 81.6%), then with the intent model trained on dev 3 (183/206, 88.8%); held-out 5 with
dev 4 (one pool split at random), scored once before dev 4 was used (199/218, 91.3%); with the
model trained on dev 4 too: held-out 3 133/149 (89.3%), 4 187/206 (90.8%), 5 199/218 (91.3%);
held-out 6 with dev 5 (a pool of 520, half of them several asks in one, split at random), scored
once before dev 5 was used: 167/208 (80.3%), then 187/208 (89.9%) with the models trained on
dev 5 and asks split at word gaps (2026-12-04, `agent.assistant.asks`; held-out 3 141/149, 4
191/206, 5 203/218 then); held-out 7 with dev 6 (a seventh writer's pool of 450, split at
random), scored once before dev 6 was used: 133/168 (79.2%), then 145/168 (86.3%) with the
models trained on dev 6 and the routing mends of 2026-12-04 (held-out 2 132/134, 3 141/149, 4
190/206, 5 207/218, 6 194/208 then); held-out 8 with dev 7 (an eighth writer's pool of 450,
written as many different merchants, split at random), scored once before dev 7 was used:
133/162 (82.1%), then 138/162 (85.2%) with the models trained on dev 7 too (2026-12-05); after
the mends of 2026-12-07 (a send or off-topic ask among others refused alone, named lists, a
store-wide ask after a customer's): held-out 2 132/134, 3 141/149, 4 190/206, 5 209/218, 6
195/208, 7 149/168, 8 140/162 (1,156/1,245); after the later mends of 2026-12-07 (a customer
named again starts an ask, a named ask typed after a question, "recommend to them", a
qualifier after a strong separator, "total X and Y" one ask): 2 132/134, 3 140/149, 4 192/206,
5 210/218, 6 196/208, 7 150/168, 8 140/162 (1,160/1,245; 1,161 at a first scoring midway);
held-out 9 with dev 8 (a ninth writer's pool of 450 less 64 sentences already in a split: dictation
with fillers, context before the question, dashboard shorthand), scored once before dev 8 was
used: 137/154 (89.0%); then, with the models trained on dev 8 too and the mends of 2026-12-07
(spoken fillers dropped, "nbp", "regulars", a "who" after no people opens an ask, "what to do"
after other asks is advice, "they" after "my best customer", drafts for a consent group), with
tools compared at their first place (`routed_ok`): 2 133/134, 3 140/149, 4 194/206, 5 209/218,
6 197/208, 7 153/168, 8 144/162 (1,170/1,245; 1,168 compared as called), 9 138/154; the same
after an action on the shop typed straight before an ask was refused on its own; held-out 10
with dev 9 (a tenth writer's pool of 450 less 38 already in a split: a shop team in a work chat,
the ask inside a longer sentence, numbered lists, questions), scored once before dev 9 was used:
146/165 (88.5%); then, with the models trained on dev 9 too and the mends of that session
(numbered asks, indirect questions, two questions run on, a comparison of plays that ran, the
emails sent to a customer, a shop's own words for customers): 2 133/134, 3 140/149, 4 196/206, 5
211/218, 6 198/208, 7 152/168, 8 144/162 (1,174/1,245), 9 141/154, 10 144/165 (with the code
mended and the models as before: 147/165; retraining the models on dev 9 cost held-out 10 three
phrasings and gave held-out 9 two); then with asks typed one after another by name cut before
each keyword (`agent.assistant.parts.keyword_chain`): 7 154/168 (1,176/1,245), 9 142/154, the
others unchanged (1,462/1,564 in all); then with "and why is ..." and "who to ..." after a
question opening asks of their own: 10 145/165 (1,463/1,564)."""
ROUTING_FLOORS = {
    "held-out": 0.90,
    "held-out 2": 0.90,
    "held-out 3": 0.85,
    "held-out 4": 0.85,
    "held-out 5": 0.85,
    "held-out 6": 0.85,
    "held-out 7": 0.80,
    "held-out 8": 0.80,
    "held-out 9": 0.80,
    "held-out 10": 0.80,
}
"""The blind routing accuracy the offline planner must keep (the target is 95%): a floor below
today's figure catches a regression without tuning on the split."""


def eval_routing(report: Report, tmp: Path, *, splits=None, progress=lambda _: None) -> None:
    """Merchant phrasings (dev and held-out splits, `evals/data/planner_phrasings*.yaml`) asked of
    the offline assistant on the 1,500-customer demo store (seed 3) whose ids they name: the
    share that reach the right tools. The held-out split is never tuned on."""
    from agent.assistant.chat import Assistant
    from agent.assistant.session import StoreSession
    from agent.settings import Settings
    from evals.quality.agent import PHRASING_SPLITS, load_phrasings, routing_eval, routing_table
    from knowledge import KnowledgeBase
    from tools.demo.store import generate_store

    store = tmp / "routing_store"
    generate_store(store, customers=1500, seed=3)
    session = StoreSession(
        store,
        tmp / "routing_ws",
        kb=KnowledgeBase(tmp / "chroma"),
        settings=Settings().model_copy(update={"model": None}),
        progress=progress,
    )
    results = {
        split: routing_eval(Assistant(session), load_phrasings(split))
        for split in splits or PHRASING_SPLITS
    }
    for split in [s for s in BLIND_SPLITS if s in results] or ["held-out"]:
        held = results[split]
        floor = ROUTING_FLOORS.get(split)
        title = (
            f"Planner routing, {split}: {held['right']}/{held['phrasings']} ({held['accuracy']:.1%}) reach "
            f"the right tools (target 95%"
        )
        if floor is None:  # reported, not yet held to a floor
            report.sections.append((f"Planner routing, {split}", title + ", no floor yet)"))
            continue
        report.checks[title + f", floor {floor:.0%})"] = held["accuracy"] >= floor
    report.sections.append(
        (
            "Planner routing",
            "Merchant phrasings asked of the offline assistant; right = the "
            "tools it called are the expected ones. Held-out 1 was written first and its "
            "misses were looked at once; held-out 2, 3 and 4 were written blind and are never "
            "read to tune on, so their misses are not listed. Dev 2 and dev 3 were written "
            "blind with held-out 3 and 4 and then tuned on (dev 3 also trains the intent "
            "model, `python -m evals.quality.train_router`).\n\n"
            + routing_table(results, blind=BLIND_SPLITS),
        )
    )


def run_eval(*, quick: bool = False, workspace: str | Path | None = None, progress=print) -> Report:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    report = Report()
    with tempfile.TemporaryDirectory(prefix="retention_eval_") as d:
        tmp = Path(d)
        for name, fn in (
            ("CDNOW", lambda: eval_cdnow(report, tmp)),
            ("demo store", lambda: eval_demo(report, tmp, customers=3000 if quick else 20000)),
            ("retrieval", lambda: eval_retrieval(report, tmp, runs=1 if quick else 3)),
            ("guardrails", lambda: eval_guardrails(report)),
            ("agent scenarios", lambda: eval_agent(report, tmp, customers=800 if quick else 2000)),
            (
                "planner routing",
                lambda: eval_routing(
                    report, tmp, splits=["held-out", *BLIND_SPLITS] if quick else None
                ),
            ),
            *(
                []
                if quick
                else [
                    (
                        "loop",
                        lambda: eval_loop(
                            report, tmp, customers=20_000, weeks=8, progress=progress
                        ),
                    )
                ]
            ),
        ):
            progress(f"eval: {name} ...")
            with _timed(report, name):
                fn()
    if workspace is not None:
        folder = Path(workspace) / "evals"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"report_{datetime.now():%Y%m%d_%H%M%S}.md"
        path.write_text(report.markdown())
    return report
