"""Measured campaigns on the demo store: orders answering a campaign with a known true effect.

`simulate_campaign_response` draws the treated and control customers' orders from the
store's ground truth with a planted uplift; `max_order_number` and `append_orders` read and
extend the store's orders file (also used by `tools.demo.weeks`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from tools.demo.params import DAY_S


def simulate_campaign_response(
    store_dir: str | Path,
    treated_ids: Iterable[str],
    control_ids: Iterable[str],
    *,
    start_date: str,
    weeks: int = 8,
    true_uplift: float = 0.10,
    seed: int = 0,
    append: bool = False,
) -> pd.DataFrame:
    """Orders placed in [start_date, start_date + weeks) by a campaign's treated and control
    customers, with a known true effect.

    Each customer buys at least once in the window with probability
        base = alive · (1 − exp(−λ · days))        (λ and death from ground_truth.csv;
                                                     dead means died on or before start_date)
        treated: min(1, base + true_uplift),  control: base,
    so the expected difference in repurchase rate, treated − control, is `true_uplift`
    (slightly less when some treated bases are near 1). A buyer places one order of one or
    two lines from their preferred category, at a uniform time in the window, on the web.
    The result has the orders.csv columns plus `group` (treated/control); with `append=True`
    the rows (without `group`) are also appended to the store's orders file.
    """
    store = Path(store_dir)
    truth = pd.read_csv(
        store / "ground_truth.csv", keep_default_na=False, dtype={"customer_id": str}
    )
    products = pd.read_csv(store / "products.csv")
    start = pd.Timestamp(start_date)
    days = 7.0 * weeks
    treated = pd.Index(pd.unique(pd.Series(list(treated_ids), dtype=str)))
    control = pd.Index(pd.unique(pd.Series(list(control_ids), dtype=str))).difference(
        treated, sort=False
    )
    ids = treated.append(control)
    t = truth.set_index("customer_id").reindex(ids)
    if t["purchase_rate_per_day"].isna().any():
        missing = ids[t["purchase_rate_per_day"].isna().to_numpy()][:3].tolist()
        raise ValueError(f"customer ids not in the store's ground truth, e.g. {missing}")
    died_at = pd.to_datetime(t["died_at"].replace("", None))
    alive = ~(died_at.notna() & (died_at <= start)).to_numpy()
    base = alive * -np.expm1(-t["purchase_rate_per_day"].to_numpy(float) * days)
    is_treated = np.r_[np.ones(treated.size, bool), np.zeros(control.size, bool)]
    prob = np.where(is_treated, np.minimum(base + true_uplift, 1.0), base)
    rng = np.random.default_rng(seed)
    buys = rng.random(ids.size) < prob
    buyer = np.flatnonzero(buys)
    when = np.sort(rng.random(buyer.size)) * days
    buyer = buyer[rng.permutation(buyer.size)]
    n_lines = 1 + (rng.random(buyer.size) < 0.35)
    b = np.repeat(buyer, n_lines)
    by_cat = np.argsort(products["category"].to_numpy(dtype=str), kind="stable")
    cat_names, cat_start, cat_count = np.unique(
        products["category"].to_numpy(dtype=str)[by_cat], return_index=True, return_counts=True
    )
    pref = t["preferred_category"].to_numpy(dtype=str)[b]
    c = np.searchsorted(cat_names, pref).clip(0, cat_names.size - 1)
    c = np.where(cat_names[c] == pref, c, 0)
    slot = rng.integers(0, 1 << 30, b.size)
    first_line = np.r_[True, b[1:] != b[:-1]] if b.size else np.zeros(0, bool)
    slot[~first_line] = slot[np.flatnonzero(~first_line) - 1] + 1  # a second, different product
    pick = by_cat[cat_start[c] + slot % cat_count[c]]
    o_num = max_order_number(store) + np.repeat(np.arange(1, buyer.size + 1), n_lines)
    when_l = np.repeat(when, n_lines)
    frame = pd.DataFrame(
        {
            "customer_id": ids.to_numpy()[b],
            "order_id": [f"O{k:07d}" for k in o_num],
            "order_date": (start + pd.to_timedelta(np.floor(when_l * DAY_S), unit="s")).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "amount": products["price"].to_numpy()[pick].round(2),
            "product_id": products["product_id"].to_numpy()[pick],
            "product_name": products["name"].to_numpy()[pick],
            "quantity": 1,
            "discount": 0.0,
            "channel": "web",
            "group": np.where(is_treated[b], "treated", "control"),
        }
    )
    if append:
        append_orders(store, frame.drop(columns="group"))
    return frame


def max_order_number(store: Path) -> int:
    if (store / "orders.parquet").exists():
        col = pd.read_parquet(store / "orders.parquet", columns=["order_id"])["order_id"]
    else:
        col = pd.read_csv(store / "orders.csv", usecols=["order_id"], dtype=str)["order_id"]
    nums = pd.to_numeric(col.str[1:], errors="coerce")
    return int(nums.max()) if nums.notna().any() else 0


def append_orders(store: Path, frame: pd.DataFrame) -> None:
    if (store / "orders.parquet").exists():
        old = pd.read_parquet(store / "orders.parquet")
        new = frame.assign(
            order_date=pd.to_datetime(frame["order_date"]).astype(old["order_date"].dtype)
        )
        pd.concat([old, new], ignore_index=True).to_parquet(store / "orders.parquet", index=False)
    else:
        frame.to_csv(store / "orders.csv", mode="a", header=False, index=False, float_format="%.2f")
