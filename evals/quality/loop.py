"""The loop that grades itself, evaluated: `python -m evals.quality.loop`.

On a 20,000-customer demo store, 8 simulated weeks of plan, approval, export and response
(`agent.cli.demo_loop`, true effects planted per play and per churn reason: `tools.demo.weeks`),
with 28-day measurement windows. Then:

1. Posteriors: for each play with at least MIN_TREATED treated and MIN_CONTROL control customers
   in matured campaigns, the play's planted save rate over exactly those customers
   (`tools.demo.weeks.planted_save_rate`: Σ (1 − base) s / Σ (1 − base) over the play's treated and
   control customers of the matured campaigns, the share of would-be lapsers the play keeps
   among the customers randomised; the treated arm alone differs from it by under 0.005 on
   these runs) must lie inside its 90% posterior interval. The section also says how many
   checked plays are inside and how likely all of them would be with exactly calibrated
   intervals (0.9^k for k plays: about one run in two for six plays).
2. Uplift against risk: a T-learner (`tools.models.uplift`) fitted on the matured campaigns ranks the
   final week's eligible customers (every customer with a play worth running: no budget, no
   control, no contact cap) by predicted uplift; at the same budget (BUDGET customers) the true expected
   incremental saves, Σ (1 − base) · s, of its top customers must be at least 20% more than
   those of the top customers by churn risk.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

MIN_TREATED = 150
MIN_CONTROL = 50
BUDGET = 1500
END_DATE = "2026-06-30"


def run_loop_eval(
    *,
    customers: int = 20_000,
    weeks: int = 8,
    seed: int = 7,
    workdir: Path | None = None,
    progress=print,
) -> dict:
    """Run the loop and both checks; returns {"checks": {name: bool}, "sections": [(title, md)], ...}."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="retention_loop_") as d:
            return run_loop_eval(
                customers=customers, weeks=weeks, seed=seed, workdir=Path(d), progress=progress
            )
    from agent.approvals.queue import open_queue
    from agent.cli.demo_loop import run_loop
    from agent.reports.learning import arm_outcomes, play_posteriors, playbook_priors
    from agent.workspace import Workspace
    from knowledge import builtin_playbook_dir, load_playbooks
    from tools.demo import weeks as D
    from tools.demo.store import generate_store
    from tools.ingest.load import load_store

    t0 = time.perf_counter()
    store = workdir / "store"
    generate_store(store, customers=customers, seed=seed, end_date=END_DATE)
    ws = Workspace.at(workdir / "ws")
    loop = run_loop(store, ws, weeks=weeks, seed=seed, progress=progress)
    final = pd.Timestamp(END_DATE) + pd.Timedelta(days=7 * weeks)
    st = load_store(
        store, now=max(pd.Timestamp.now(), final + pd.Timedelta(days=2)).to_pydatetime()
    )
    queue = open_queue(ws.root)
    playbooks = list(load_playbooks([builtin_playbook_dir()]).playbooks)
    priors = playbook_priors(playbooks)
    outcomes = arm_outcomes(queue, st.orders, store_path=st.path, as_of=final)
    truth = pd.read_csv(store / D.TRUTH_FILE, dtype={"customer_id": str})
    truth["campaign_id"] = "week-" + truth["week_of"].astype(str)
    matured = truth[truth["campaign_id"].isin(set(outcomes["campaign_id"]))]
    post = play_posteriors(outcomes, priors)
    rows, ok = [], True
    for r in post.itertuples():
        planted = D.planted_save_rate(matured[matured["playbook_id"] == r.playbook_id])
        checked = r.treated >= MIN_TREATED and r.control >= MIN_CONTROL
        inside = r.posterior_low <= planted <= r.posterior_high
        ok &= inside or not checked
        rows.append(
            (
                r.playbook_id,
                r.treated,
                r.control,
                r.prior,
                r.posterior_mean,
                r.posterior_low,
                r.posterior_high,
                planted,
                checked,
                inside,
            )
        )
    checks = {
        f"Loop: every measured play's planted save rate inside its 90% posterior interval "
        f"({sum(x[8] for x in rows)} plays)": bool(ok and any(x[8] for x in rows))
    }
    body = [
        f"{customers:,} customers, {weeks} simulated weeks, {outcomes['campaign_id'].nunique()} matured "
        f"campaigns, {len(outcomes):,} treated and control customers measured.",
        "",
        "| play | treated | control | playbook prior | posterior mean | 90% interval | planted | checked | inside |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    body += [
        f"| {p} | {t:,} | {c:,} | {pr:.3f} | {m:.3f} | {lo:.3f} to {hi:.3f} | {pl:.3f} | "
        f"{'yes' if ch else 'no'} | {'yes' if ins else 'NO'} |"
        for p, t, c, pr, m, lo, hi, pl, ch, ins in rows
    ]
    k = sum(x[8] for x in rows)
    body += [
        "",
        f"{sum(x[8] and x[9] for x in rows)} of {k} checked plays inside their 90% interval "
        f"(with exactly calibrated intervals all {k} would be inside in {0.9**k:.0%} of runs).",
    ]
    sections = [("Loop: posterior save rates against the planted effects", "\n".join(body))]
    progress("loop eval: uplift model against risk")
    up = uplift_vs_risk(st, ws, queue, outcomes, truth, playbooks, final=final, seed=seed)
    checks["Loop: uplift ranking wins at least 20% more incremental saves than risk ranking"] = (
        up["ratio"] is not None and up["ratio"] >= 1.2
    )
    sections.append(("Loop: uplift ranking against risk ranking", up["markdown"]))
    return {
        "checks": checks,
        "sections": sections,
        "weeks": loop.weeks,
        "posteriors": rows,
        "uplift": up,
        "seconds": time.perf_counter() - t0,
    }


def uplift_vs_risk(
    st,
    ws,
    queue,
    outcomes: pd.DataFrame,
    truth: pd.DataFrame,
    playbooks: list,
    *,
    final: pd.Timestamp,
    seed: int,
    budget: int = BUDGET,
) -> dict:
    """Fit the T-learner on the matured campaigns and compare rankings on the final pool."""
    from agent.cli.demo_loop import LOOP_WINDOW_DAYS
    from agent.outreach.prioritise import prioritise
    from agent.reports.snapshots import load_scores, scores_for
    from agent.settings import Settings
    from tools.demo import weeks as D
    from tools.models.uplift import NotEnoughCampaigns, fit_uplift, uplift_features

    frames = []
    for _, g in outcomes.groupby("campaign_id"):
        as_of = pd.Timestamp(g["week_of"].iloc[0]) - pd.Timedelta(days=1)
        scores, _ = load_scores(ws, str(as_of.date()))
        frames.append((uplift_features(g, scores, st.orders, as_of=as_of), g))
    X = pd.concat([f for f, _ in frames], ignore_index=True)
    g = pd.concat([o for _, o in frames], ignore_index=True)
    try:
        model = fit_uplift(
            X, g["arm"].to_numpy() == "treated", g["bought"].to_numpy(bool), seed=seed
        )
    except NotEnoughCampaigns as exc:
        return {"ratio": None, "markdown": f"Not run: {exc}."}
    scores, _ = scores_for(st, ws, final, horizon_days=365)
    # the pool: every customer with a play worth running this week, caps and open control groups
    # aside (the question is whom to rank first, not whom this week's plan may still contact)
    wide = Settings(
        _env_file=None, weekly_contact_budget=10**7, control_share=0.0, contact_cap_days=0
    )
    pool = prioritise(
        scores,
        st.customers,
        playbooks,
        settings=wide,
        week_of=final + pd.Timedelta(days=1),
        campaign_id="uplift-eval",
        save_rates={},
    ).chosen_frame()
    feats = uplift_features(pool, scores, st.orders, as_of=final)
    tau = model.predict_uplift(feats)
    gt = pd.read_csv(
        st.path / "ground_truth.csv", keep_default_na=False, dtype={"customer_id": str}
    )
    gt = gt.set_index("customer_id").reindex(pool["customer_id"].astype(str))
    died = pd.to_datetime(gt["died_at"].replace("", None))
    alive = ~(died.notna() & (died <= final)).to_numpy()
    base = alive * -np.expm1(-gt["purchase_rate_per_day"].to_numpy(float) * LOOP_WINDOW_DAYS)
    s = np.array(
        [
            D.planted_rate(p, r, d)
            for p, r, d in zip(
                pool["playbook_id"], pool["churn_reason"], feats["days_since_last"].fillna(9999)
            )
        ]
    )
    true_save = (1 - base) * s
    b = min(budget, len(pool))
    by_risk = true_save[
        np.argsort(-pool["churn_probability"].to_numpy(float), kind="stable")[:b]
    ].sum()
    by_uplift = true_save[np.argsort(-tau, kind="stable")[:b]].sum()
    best = np.sort(true_save)[::-1][:b].sum()
    ratio = float(by_uplift / by_risk) if by_risk > 0 else None
    md = "\n".join(
        [
            f"T-learner fitted on {model.n_treated:,} treated and {model.n_control:,} control customers of matured "
            f"campaigns; the final week's pool has {len(pool):,} customers with a play worth running; budget {b:,}.",
            "",
            "| ranking | expected incremental saves (planted truth) |",
            "|---|---|",
            f"| by churn risk | {by_risk:,.1f} |",
            f"| by predicted uplift (T-learner) | {by_uplift:,.1f} |",
            f"| oracle (the planted effects) | {best:,.1f} |",
            "",
            f"Uplift ranking / risk ranking: {ratio:.2f}"
            if ratio is not None
            else "Risk ranking saves nobody.",
        ]
    )
    return {
        "ratio": ratio,
        "by_risk": float(by_risk),
        "by_uplift": float(by_uplift),
        "oracle": float(best),
        "pool": int(len(pool)),
        "budget": b,
        "markdown": md,
    }


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--weeks", type=int, default=8)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    res = run_loop_eval(
        customers=a.customers, weeks=a.weeks, seed=a.seed, progress=lambda m: print(m, flush=True)
    )
    for title, body in res["sections"]:
        print(f"\n## {title}\n\n{body}")
    print("\n| check | result |\n|---|---|")
    for k, v in res["checks"].items():
        print(f"| {k} | {'pass' if v else 'FAIL'} |")
    print(f"\n{res['seconds']:.0f} s")
    return 0 if all(res["checks"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
