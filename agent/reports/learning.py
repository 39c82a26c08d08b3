"""A plan that learns: each play's save rate as a posterior.

The save rate s of a play is the share of would-be lapsers it keeps (the `s` of
`agent.outreach.prioritise`'s expected value). In a campaign's measurement window a control customer
buys with probability p_c and a treated one with

    p_t = p_c + (1 − p_c) · s,

so the treated buyers of a play are binomial(n_t, p_t) and its control buyers binomial(n_c,
p_c). A play runs in several campaigns (weeks), each on its own customers with its own control
rate, and they need not keep the same share: a week whose customers were mostly lost causes
keeps fewer. The play's save rate is the share of would-be lapsers it kept over all the
customers of its campaigns, treated and control (both arms: the customers randomised, fixed
before the draw),

    s = Σ_c N_c (p_t,c − p_c,c) / Σ_c N_c (1 − p_c,c),   N_c = n_t,c + n_c,c,

estimated by the campaigns' observed rates (a ratio estimator over the campaigns, each weighted
by the would-be lapsers it held). Its likelihood (`save_rate_posterior`) is normal, with the
delta method's variance: linearised, ŝ − s = Σ_c N_c [(p̂_t − p_t) − (1 − s)(p̂_c − p_c)] / B,
B = Σ_c N_c (1 − p̂_c), so

    Var ŝ = Σ_c N_c² [v_t,c + (1 − s)² v_c,c] / B²,

with v = p̃(1 − p̃)/n for each arm (p̃ = (buyers + 1)/(n + 2), never 0): the control arm's
uncertainty counts, and a thin campaign counts for little. The prior on s is the playbook's:
Beta(μκ, (1 − μ)κ) with μ = `prior_uplift` and κ = PRIOR_STRENGTH would-be lapsers' worth of
evidence; the posterior, prior times likelihood, is computed on a grid of 1,001 values.

One common rate for every campaign (`posterior_grid`, the control's rate integrated out per
campaign) would weight the campaigns by precision instead: a precisely measured week of lost
causes (few organic buyers, a low save rate) pulled the play's rate below what its customers
did (fading-engagement-reactivation on the 8,000-customer demo loop, seed 11: a common rate
0.100 on the noise-free counts against 0.117 planted; 73% of 90% intervals covering it over
re-randomised replicates, 85% for the ratio).

Per churn reason (or segment), with at least MIN_CELL_TREATED treated and MIN_CELL_CONTROL
control customers in the cell, the cell's prior is the play's posterior on the other cells'
data, moment-matched to a Beta of at most PRIOR_STRENGTH: partial pooling, so a thin cell stays
near its play, and no cell's data counted twice.

Only campaigns whose window has matured are counted (`agent.reports.campaigns.campaign_results`'s
`complete`, and never past `as_of`); each customer is counted by the play, reason and segment
the plan recorded for them (`settings["arms"]`), treated or not (intention to treat).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from agent.reports.campaigns import DEFAULT_WINDOW_DAYS, list_campaigns, on_store

PRIOR_STRENGTH = 20.0
MIN_CELL_TREATED = 150
MIN_CELL_CONTROL = 40
GRID = np.linspace(0.0, 1.0, 1001)
NODES = 200
LEVEL = 0.90
OUTCOME_COLUMNS = (
    "campaign_id",
    "week_of",
    "customer_id",
    "arm",
    "playbook_id",
    "churn_reason",
    "segment",
    "bought",
    "revenue",
)


def arm_outcomes(
    queue, orders: pd.DataFrame, *, store_path=None, as_of=None, window_days: int | None = None
) -> pd.DataFrame:
    """One row per treated or control customer of every matured campaign with recorded arms
    (OUTCOME_COLUMNS): bought (an order with amount > 0 in the window) and net revenue."""
    last = orders["order_date"].max() if len(orders) else None
    limit = pd.Timestamp(as_of).normalize() if as_of is not None else None
    frames = []
    for c in list_campaigns(queue):
        if store_path is not None and not on_store(c, store_path):
            continue
        arms = (c.settings or {}).get("arms") or {}
        if not arms or last is None:
            continue
        start = pd.Timestamp(c.week_of).normalize()
        end = start + pd.Timedelta(
            days=int(window_days or (c.settings or {}).get("window_days") or DEFAULT_WINDOW_DAYS)
        )
        if last < end - pd.Timedelta(days=1) or (
            limit is not None and end > limit + pd.Timedelta(days=1)
        ):
            continue  # not matured
        treated = [str(x) for x in c.treated_ids or []]
        control = [str(x) for x in c.control_ids or [] if str(x) not in set(treated)]
        o = orders.loc[(orders["order_date"] >= start) & (orders["order_date"] < end)]
        cid = o["customer_id"].astype(str)
        buyers = set(cid[o["amount"] > 0])
        revenue = o["amount"].groupby(cid).sum()
        ids = [x for x in treated + control if x in arms]
        frames.append(
            pd.DataFrame(
                {
                    "campaign_id": c.id,
                    "week_of": start,
                    "customer_id": ids,
                    "arm": [
                        "treated" if i < len(treated) else "control"
                        for i, x in enumerate(treated + control)
                        if x in arms
                    ],
                    "playbook_id": [arms[x][0] for x in ids],
                    "churn_reason": [arms[x][1] for x in ids],
                    "segment": [arms[x][2] for x in ids],
                    "bought": [x in buyers for x in ids],
                    "revenue": revenue.reindex(ids, fill_value=0.0).to_numpy(float),
                }
            )
        )
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=list(OUTCOME_COLUMNS))
    )


def _beta_params(mean: float, strength: float) -> tuple[float, float]:
    m = min(max(mean, 0.002), 0.95)
    return m * strength, (1 - m) * strength


def posterior_grid(
    cells: Iterable[tuple[int, int, int, int]],
    *,
    prior_mean: float,
    prior_strength: float = PRIOR_STRENGTH,
) -> np.ndarray:
    """One common save rate s for every campaign: its posterior density on GRID (sums to 1) from
    (treated, treated buyers, control, control buyers) per campaign, the control's rate (a
    uniform prior, one per campaign) integrated out at NODES quantiles of its Beta posterior.
    Where no control customer buys this is the conjugate update Beta(μκ + buyers, (1 − μ)κ +
    others). Kept for comparison: the plan uses `save_rate_posterior` (module docstring)."""
    from scipy import special, stats

    a, b = _beta_params(prior_mean, prior_strength)
    s = GRID
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = (a - 1) * np.log(s) + (b - 1) * np.log1p(-s)
    logp = np.where(np.isfinite(logp), logp, -np.inf)
    u = (np.arange(NODES) + 0.5) / NODES
    for nt, bt, nc, bc in cells:
        if nt == 0 or nc == 0:
            continue
        pc = stats.beta.ppf(u, 1 + bc, 1 + nc - bc)[:, None]  # (nodes, 1)
        pt = np.clip(pc + (1 - pc) * s[None, :], 1e-12, 1 - 1e-12)
        ll = bt * np.log(pt) + (nt - bt) * np.log1p(-pt)
        logp = logp + special.logsumexp(ll, axis=0) - math.log(NODES)
    logp = logp - logp[np.isfinite(logp)].max()
    w = np.exp(logp)
    return w / w.sum()


def save_rate_posterior(
    cells: Iterable[tuple[int, int, int, int]],
    *,
    prior_mean: float,
    prior_strength: float = PRIOR_STRENGTH,
) -> np.ndarray:
    """The posterior density of a play's save rate s on GRID (sums to 1) from (treated, treated
    buyers, control, control buyers) per campaign: the playbook's Beta prior times the normal
    likelihood of the campaigns' ratio estimate (module docstring)."""
    a, b = _beta_params(prior_mean, prior_strength)
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = (a - 1) * np.log(GRID) + (b - 1) * np.log1p(-GRID)
    logp = np.where(np.isfinite(logp), logp, -np.inf)
    c = np.array([x for x in cells if x[0] > 0 and x[2] > 0], dtype=float).reshape(-1, 4)
    if len(c):
        nt, bt, nc, bc = c.T
        n = nt + nc
        pt, pc = bt / nt, bc / nc
        qt, qc = (bt + 1) / (nt + 2), (bc + 1) / (nc + 2)
        vt, vc = qt * (1 - qt) / nt, qc * (1 - qc) / nc
        big_b = float((n * (1 - pc)).sum())
        if big_b > 0:
            est = float((n * (pt - pc)).sum()) / big_b
            var = (
                float((n * n * vt).sum()) + (1 - GRID) ** 2 * float((n * n * vc).sum())
            ) / big_b**2
            logp = logp - 0.5 * (est - GRID) ** 2 / var - 0.5 * np.log(var)
    logp = logp - logp[np.isfinite(logp)].max()
    w = np.exp(logp)
    return w / w.sum()


def summarise(w: np.ndarray, prior_mean: float, level: float = LEVEL) -> dict:
    """Mean, central interval and P(s > the playbook's prior) of a grid posterior."""
    cdf = np.cumsum(w)
    lo = float(GRID[np.searchsorted(cdf, (1 - level) / 2)])
    hi = float(GRID[min(int(np.searchsorted(cdf, 1 - (1 - level) / 2)), len(GRID) - 1)])
    return {
        "posterior_mean": float((w * GRID).sum()),
        "posterior_low": lo,
        "posterior_high": hi,
        "p_better_than_prior": float(w[prior_mean < GRID].sum()),
    }


def _cells(df: pd.DataFrame) -> list[tuple[int, int, int, int]]:
    out = []
    for _, g in df.groupby("campaign_id"):
        t, c = g[g["arm"] == "treated"], g[g["arm"] == "control"]
        out.append((len(t), int(t["bought"].sum()), len(c), int(c["bought"].sum())))
    return out


def play_posteriors(
    outcomes: pd.DataFrame,
    priors: dict[str, float],
    *,
    by: str | None = None,
    prior_strength: float = PRIOR_STRENGTH,
    level: float = LEVEL,
) -> pd.DataFrame:
    """One row per play (and per value of `by`, e.g. "churn_reason" or "segment", for cells
    with enough customers) that has matured outcomes: counts, the playbook's prior, the
    posterior mean with its `level` interval and P(better than the prior)."""
    rows: list[dict] = []
    if len(outcomes) == 0:
        return pd.DataFrame(rows)
    for pid, g in outcomes.groupby("playbook_id"):
        prior = float(priors.get(pid, 0.05))
        w = save_rate_posterior(_cells(g), prior_mean=prior, prior_strength=prior_strength)
        base = {"playbook_id": pid, **_counts(g), "prior": prior, **summarise(w, prior, level)}
        if by is None:
            rows.append(base)
            continue
        for key, cell in g.groupby(by):
            n = _counts(cell)
            if n["treated"] < MIN_CELL_TREATED or n["control"] < MIN_CELL_CONTROL:
                continue
            # the cell's prior: the play's posterior on the other cells' data (not its own twice)
            wo = save_rate_posterior(
                _cells(g[g[by] != key]), prior_mean=prior, prior_strength=prior_strength
            )
            mean = float((wo * GRID).sum())
            var = float((wo * (GRID - mean) ** 2).sum())
            strength = min(prior_strength, max(mean * (1 - mean) / max(var, 1e-9) - 1, 1.0))
            wc = save_rate_posterior(_cells(cell), prior_mean=mean, prior_strength=strength)
            rows.append(
                {"playbook_id": pid, by: key, **n, "prior": prior, **summarise(wc, prior, level)}
            )
    return pd.DataFrame(rows)


def _counts(g: pd.DataFrame) -> dict:
    t, c = g[g["arm"] == "treated"], g[g["arm"] == "control"]
    return {
        "campaigns": int(g["campaign_id"].nunique()),
        "treated": len(t),
        "treated_buyers": int(t["bought"].sum()),
        "control": len(c),
        "control_buyers": int(c["bought"].sum()),
    }


def playbook_priors(playbooks: list) -> dict[str, float]:
    """{play id: the playbook's prior save rate}."""
    from agent.outreach.plan import Play

    return {p.id: p.prior_uplift for p in map(Play.of, playbooks)}


def learned_save_rates(
    queue,
    orders: pd.DataFrame,
    playbooks: list,
    *,
    store_path=None,
    as_of=None,
    outcomes: pd.DataFrame | None = None,
) -> dict[str, float]:
    """The save rates `agent.outreach.prioritise` should use: {play id: posterior mean} for every play
    with matured outcomes, and {"play id|churn reason": posterior mean} for reasons with
    enough customers of their own. Empty when nothing has been measured yet."""
    if outcomes is None:
        outcomes = arm_outcomes(queue, orders, store_path=store_path, as_of=as_of)
    if len(outcomes) == 0:
        return {}
    priors = playbook_priors(playbooks)
    rates = {
        r.playbook_id: r.posterior_mean for r in play_posteriors(outcomes, priors).itertuples()
    }
    by_reason = play_posteriors(outcomes, priors, by="churn_reason")
    if len(by_reason):
        rates.update(
            {f"{r.playbook_id}|{r.churn_reason}": r.posterior_mean for r in by_reason.itertuples()}
        )
    return rates


def uplift_ranker(
    queue,
    orders: pd.DataFrame,
    *,
    scores: pd.DataFrame,
    as_of,
    store_path=None,
    outcomes: pd.DataFrame | None = None,
    seed: int = 0,
):
    """Once the store has measured enough campaigns (`tools.models.uplift.MIN_TREATED` treated and
    `MIN_CONTROL` control customers), a T-learner fitted on them, as the `uplift` callable of
    `agent.outreach.prioritise` for this week's `scores`; None before. Each campaign's customers are
    described by the workspace snapshot of the day before it started (`agent.reports.snapshots`)."""
    from agent.reports.snapshots import load_scores
    from agent.workspace import Workspace
    from tools.models.uplift import (
        MIN_CONTROL,
        MIN_TREATED,
        NotEnoughCampaigns,
        fit_uplift,
        uplift_features,
    )

    if outcomes is None:
        outcomes = arm_outcomes(queue, orders, store_path=store_path, as_of=as_of)
    if getattr(queue, "workspace", None) is None or len(outcomes) == 0:
        return None
    arm = outcomes["arm"]
    if (arm == "treated").sum() < MIN_TREATED or (arm == "control").sum() < MIN_CONTROL:
        return None
    ws = Workspace(queue.workspace)
    frames = []
    for _, g in outcomes.groupby("campaign_id"):
        day = pd.Timestamp(g["week_of"].iloc[0]) - pd.Timedelta(days=1)
        try:
            snap, _ = load_scores(ws, str(day.date()))
        except (FileNotFoundError, OSError, ValueError):
            continue
        frames.append((uplift_features(g, snap, orders, as_of=day), g))
    if not frames:
        return None
    X = pd.concat([f for f, _ in frames], ignore_index=True)
    g = pd.concat([o for _, o in frames], ignore_index=True)
    try:
        model = fit_uplift(
            X, g["arm"].to_numpy() == "treated", g["bought"].to_numpy(bool), seed=seed
        )
    except NotEnoughCampaigns:
        return None
    day = pd.Timestamp(as_of).normalize() - pd.Timedelta(days=1)

    def rank(rows: pd.DataFrame) -> np.ndarray:
        return model.predict_uplift(uplift_features(rows, scores, orders, as_of=day))

    return rank
