"""The demo store's weeks after its last day: organic orders and events, and
the customers' responses to a campaign with effects planted per play and per churn reason.

A week of the store, [start, start + 7 days), continues the generator's process
(`tools.demo.process`) with the season switched off: a customer alive at `start`
(ground_truth.csv's `died_at` empty or later) places orders as a Poisson process at their rate λ
and after each order dies with their dropout probability p (the truth file is updated); their
engagement events go on at the rate of their last 180 days. A planted-cause customer stays
lapsed unless a campaign wins them back.

A campaign's response (`respond`): each treated customer i is a *responder* with probability

    s_i = PLANTED_SAVE[play] · REASON_EFFECT[reason] · (LOST_CAUSE_FACTOR if their last order
          is more than LOST_CAUSE_DAYS before the campaign, else 1)          (capped at 0.9)

and a responder places one extra order at a uniform time in the window, independently of
their organic orders. So, with base_i = alive_i · (1 − exp(−λ_i · window)) the chance of an
organic order in the window,

    P(order in window | treated) = 1 − (1 − base_i)(1 − s_i) = base_i + (1 − base_i) s_i:

s_i is exactly the share of would-be lapsers kept, the save rate `agent.reports.learning` estimates;
over a group the estimand is Σ (1 − base_i) s_i / Σ (1 − base_i) (`planted_save_rate`).
The lost-cause factor makes risk alone a poor guide (Ascarza 2018, "Retention futility"):
the customers most likely to lapse include those long gone, whom a message rarely brings back.
Every arm's truth (base, s) is kept in `loop_truth.csv` in the store folder; orders dated
after the week are kept in `loop_pending.csv` until their week comes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tools.demo.campaigns import append_orders, max_order_number
from tools.demo.params import PARAMS

PLANTED_SAVE = {
    "fading-engagement-reactivation": 0.14,
    "win-back-lapsed": 0.02,
    "price-sensitive-save": 0.18,
    "quality-returns-recovery": 0.05,
    "service-recovery": 0.30,
    "replenishment-reminder": 0.25,
    "second-purchase-conversion": 0.05,
    "vip-personal-outreach": 0.22,
    "loyalty-tiers": 0.10,
    "cross-sell-bundles": 0.03,
    "personalised-challenges": 0.09,
    "surprise-and-delight": 0.08,
    "value-reinforcement": 0.08,
    "subscription-conversion": 0.12,
    "post-purchase-follow-up": 0.07,
    "feedback-solicitation": 0.02,
    "new-customer-onboarding": 0.06,
    "sunset-inactive-subscribers": 0.01,
}
"""The true save rate of each play in the demo (a play not listed: its playbook prior)."""
REASON_EFFECT = {
    "price_sensitivity": 1.4,
    "cycle_overdue": 1.2,
    "fading_engagement": 1.0,
    "service_problems": 1.0,
    "quality_returns": 0.8,
    "one_time_buyer": 0.6,
}
LOST_CAUSE_DAYS = 240
LOST_CAUSE_FACTOR = 0.2
TRUTH_FILE = "loop_truth.csv"
PENDING_FILE = "loop_pending.csv"
ORDER_COLUMNS = (
    "customer_id",
    "order_id",
    "order_date",
    "amount",
    "product_id",
    "product_name",
    "quantity",
    "discount",
    "channel",
)


def planted_rate(
    play: str, reason: str, days_since_last: float, prior: float | None = None
) -> float:
    """s_i of the module docstring."""
    base = PLANTED_SAVE.get(play, prior if prior is not None else 0.05)
    lost = LOST_CAUSE_FACTOR if days_since_last > LOST_CAUSE_DAYS else 1.0
    return float(min(0.9, base * REASON_EFFECT.get(reason, 1.0) * lost))


def _truth(store: Path) -> pd.DataFrame:
    return pd.read_csv(
        store / "ground_truth.csv", keep_default_na=False, dtype={"customer_id": str}
    )


def _alive(truth: pd.DataFrame, at: pd.Timestamp) -> np.ndarray:
    died = pd.to_datetime(truth["died_at"].replace("", None))
    return ~(died.notna() & (died <= at)).to_numpy()


def _orders_for(
    store: Path,
    truth: pd.DataFrame,
    who: np.ndarray,
    when: pd.Series,
    rng: np.random.Generator,
    first_number: int,
) -> pd.DataFrame:
    """One order per (customer row `who`, time `when`) of 1 to 4 lines (the generator's
    `lines_per_order_probs`), each a product of the customer's preferred category near their
    spend level, on the web."""
    n_lines = 1 + np.searchsorted(
        np.cumsum(PARAMS["lines_per_order_probs"]), rng.random(len(who)), side="right"
    ).clip(0, 3)
    number = np.repeat(np.arange(first_number + 1, first_number + 1 + len(who)), n_lines)
    who = np.repeat(np.asarray(who, dtype=np.int64), n_lines)
    when = pd.Series(np.repeat(pd.DatetimeIndex(when).to_numpy(), n_lines))
    products = pd.read_csv(store / "products.csv")
    cats = products["category"].to_numpy(str)
    pref = truth["preferred_category"].to_numpy(str)[who]
    spend = truth["spend_level"].to_numpy(float)[who]
    pick = np.empty(len(who), dtype=np.int64)
    for cat in np.unique(pref):
        rows = np.flatnonzero(pref == cat)
        pool = np.flatnonzero(cats == cat)
        if pool.size == 0:
            pool = np.arange(len(products))
        cand = rng.choice(pool, size=(3, rows.size))
        median = np.median(products["price"].to_numpy()[pool])
        gap = np.abs(
            np.log(products["price"].to_numpy()[cand]) - np.log(median * spend[rows])[None, :]
        )
        pick[rows] = cand[np.argmin(gap, axis=0), np.arange(rows.size)]
    return pd.DataFrame(
        {
            "customer_id": truth["customer_id"].to_numpy()[who],
            "order_id": [f"O{k:07d}" for k in number],
            "order_date": pd.DatetimeIndex(when).strftime("%Y-%m-%d %H:%M:%S"),
            "amount": products["price"].to_numpy()[pick].round(2),
            "product_id": products["product_id"].to_numpy()[pick],
            "product_name": products["name"].to_numpy()[pick],
            "quantity": 1,
            "discount": 0.0,
            "channel": "web",
        }
    )


def respond(
    store_dir: str | Path,
    arms: pd.DataFrame,
    *,
    start,
    window_days: int,
    seed: int,
    priors: dict[str, float] | None = None,
) -> pd.DataFrame:
    """A campaign's planted response. `arms`: customer_id, arm (treated/control), playbook_id,
    churn_reason, days_since_last. Returns the arms with `base`, `save_rate` (s_i, also for
    the control: what the play would have done) and `responder`; the responders' orders go to
    loop_pending.csv, and the arms to loop_truth.csv (module docstring)."""
    store = Path(store_dir)
    start = pd.Timestamp(start).normalize()
    truth = _truth(store).reset_index(drop=True)
    pos = pd.Series(np.arange(len(truth)), index=truth["customer_id"])
    at = pos.reindex(arms["customer_id"].astype(str)).to_numpy()
    if np.isnan(at.astype(float)).any():
        raise ValueError("customer ids not in the store's ground truth")
    at = at.astype(np.int64)
    lam = truth["purchase_rate_per_day"].to_numpy(float)[at]
    base = _alive(truth, start)[at] * -np.expm1(-lam * window_days)
    s = np.array(
        [
            planted_rate(p, r, d, (priors or {}).get(p))
            for p, r, d in zip(arms["playbook_id"], arms["churn_reason"], arms["days_since_last"])
        ]
    )
    rng = np.random.default_rng(seed)
    responder = (arms["arm"].to_numpy() == "treated") & (rng.random(len(arms)) < s)
    out = arms.assign(base=base, save_rate=s, responder=responder, week_of=str(start.date()))
    who = at[responder]
    when = start + pd.to_timedelta(rng.random(who.size) * window_days * 86_400, unit="s").floor("s")
    orders = _orders_for(store, truth, who, pd.Series(when), rng, _max_pending(store))
    _append_csv(store / PENDING_FILE, orders)
    _append_csv(store / TRUTH_FILE, out)
    return out


def _max_pending(store: Path) -> int:
    top = max_order_number(store)
    if (store / PENDING_FILE).exists():
        col = pd.read_csv(store / PENDING_FILE, usecols=["order_id"], dtype=str)["order_id"]
        if len(col):
            top = max(top, int(pd.to_numeric(col.str[1:], errors="coerce").max()))
    return top


def _append_csv(path: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(path, mode="a", header=not path.exists(), index=False, float_format="%.6g")


def advance_week(store_dir: str | Path, *, start, seed: int, days: int = 7) -> dict[str, int]:
    """Simulate [start, start + days) (module docstring) and append its orders (organic, and
    the pending responses that fall in it) and events to the store. Returns counts."""
    store = Path(store_dir)
    start = pd.Timestamp(start).normalize()
    stop = start + pd.Timedelta(days=days)
    rng = np.random.default_rng(seed)
    truth = _truth(store)
    alive = _alive(truth, start)
    lam = truth["purchase_rate_per_day"].to_numpy(float)
    p = truth["dropout_probability"].to_numpy(float)
    who_l, t_l = [], []
    t = np.zeros(len(truth))
    active = np.flatnonzero(alive)
    died_at = pd.to_datetime(truth["died_at"].replace("", None)).to_numpy()
    while active.size:
        t[active] += rng.exponential(1.0, active.size) / lam[active]
        active = active[t[active] < days]
        who_l.append(active)
        t_l.append(t[active])
        dies = rng.random(active.size) < p[active]
        died_at[active[dies]] = (
            start + pd.to_timedelta(t[active[dies]] * 86_400, unit="s")
        ).to_numpy()
        active = active[~dies]
    who = np.concatenate(who_l) if who_l else np.zeros(0, np.int64)
    when_d = np.concatenate(t_l) if t_l else np.zeros(0)
    when = pd.Series(start + pd.to_timedelta(when_d * 86_400, unit="s").floor("s"))
    organic = _orders_for(store, truth, who, when, rng, _max_pending(store))
    due = pd.DataFrame(columns=list(ORDER_COLUMNS))
    if (store / PENDING_FILE).exists():
        pend = pd.read_csv(store / PENDING_FILE, dtype={"customer_id": str, "order_id": str})
        is_due = pd.to_datetime(pend["order_date"]) < stop
        due, rest = pend.loc[is_due], pend.loc[~is_due]
        rest.to_csv(store / PENDING_FILE, index=False, float_format="%.6g")
    week = pd.concat([organic, due], ignore_index=True)
    week = week.assign(_t=pd.to_datetime(week["order_date"])).sort_values("_t").drop(columns="_t")
    append_orders(store, week[list(ORDER_COLUMNS)])
    truth["died_at"] = pd.Series(died_at).dt.strftime("%Y-%m-%d %H:%M:%S").fillna("").to_numpy()
    truth["died"] = truth["died_at"] != ""
    truth.to_csv(store / "ground_truth.csv", index=False)
    n_events = _events_week(store, truth, start, days, rng, alive=_alive(truth, start))
    return {"orders": len(week), "responses": len(due), "events": n_events}


def _events_week(
    store: Path,
    truth: pd.DataFrame,
    start: pd.Timestamp,
    days: int,
    rng: np.random.Generator,
    *,
    alive: np.ndarray,
) -> int:
    """Engagement events of the week at each living customer's rate over their last 180 days."""
    path = store / "events.csv"
    if not path.exists():
        return 0
    ev = pd.read_csv(path, dtype={"customer_id": str}, usecols=["customer_id", "timestamp", "type"])
    ts = pd.to_datetime(ev["timestamp"])
    recent = ev.loc[ts >= start - pd.Timedelta(days=180)]
    rate = (
        recent.groupby("customer_id").size().reindex(truth["customer_id"], fill_value=0).to_numpy()
        / 180.0
    )
    k = rng.poisson(rate * days * alive)
    who = np.repeat(np.arange(len(truth)), k)
    if who.size == 0:
        return 0
    types = recent.groupby("customer_id")["type"].agg(
        lambda x: x.value_counts(normalize=True).to_dict()
    )
    kinds = []
    for c in truth["customer_id"].to_numpy()[who]:
        dist = types.get(c, {"site_visit": 1.0})
        kinds.append(rng.choice(list(dist), p=np.array(list(dist.values())) / sum(dist.values())))
    when = start + pd.to_timedelta(np.sort(rng.random(who.size)) * days * 86_400, unit="s").floor(
        "s"
    )
    order = rng.permutation(who.size)
    new = pd.DataFrame(
        {
            "customer_id": truth["customer_id"].to_numpy()[who[order]],
            "timestamp": pd.DatetimeIndex(when).strftime("%Y-%m-%d %H:%M:%S"),
            "type": np.asarray(kinds)[order],
        }
    )
    new.to_csv(path, mode="a", header=False, index=False)
    return int(who.size)


def planted_save_rate(truth: pd.DataFrame) -> float:
    """Σ (1 − base) s / Σ (1 − base) over arms (loop_truth.csv rows), treated and control: the
    true save rate a comparison of these treated and control customers estimates (the share
    of would-be lapsers the play keeps among the customers randomised, fixed before the draw
    of who is treated; `agent.reports.learning`'s ratio over campaigns targets it)."""
    w = 1.0 - truth["base"].to_numpy(float)
    return (
        float((w * truth["save_rate"].to_numpy(float)).sum() / w.sum())
        if w.sum() > 0
        else float("nan")
    )


def expected_saves(truth: pd.DataFrame) -> float:
    """Σ (1 − base) s: the incremental buyers a treatment of these customers is expected to win."""
    return float(((1.0 - truth["base"].to_numpy(float)) * truth["save_rate"].to_numpy(float)).sum())
