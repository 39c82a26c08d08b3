"""The CDNOW sample (Fader, Hardie & Lee 2005) as a store folder.

The raw transactions ship inside the lifetimes package (`lifetimes/datasets/CDNOW_sample.txt`:
customer id, id2, date YYYYMMDD, CDs bought, dollar amount; 2,357 customers who first bought
in Q1 1997, followed to the end of June 1998). The published calibration period ends
1997-09-30 (39 weeks); the holdout is the following 39 weeks.

`write_store(folder, master=True)` writes the whole cohort instead (`CDNOW_master.txt`:
23,570 customers, the same split).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pandas as pd

CALIBRATION_END = "1997-09-30"
HOLDOUT_DAYS = 273  # 39 weeks


def raw_path(master: bool = False) -> Path:
    name = "CDNOW_master.txt" if master else "CDNOW_sample.txt"
    return Path(str(files("lifetimes") / "datasets" / name))


def write_store(folder: str | Path, *, master: bool = False) -> Path:
    """Write CDNOW as `<folder>/orders.csv` (customer_id, order_id, order_date, amount); the
    sample, or with `master` the whole cohort (whose file has a header and no id2)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if master:
        raw = pd.read_csv(raw_path(master=True), sep=r"\s+", dtype=str).rename(
            columns={"number_of_cds": "quantity", "dollar_value": "amount"}
        )
    else:
        raw = pd.read_csv(
            raw_path(),
            sep=r"\s+",
            header=None,
            names=["customer_id", "id2", "date", "quantity", "amount"],
            dtype=str,
        )
    out = pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "order_id": [f"T{i:05d}" for i in range(len(raw))],
            "order_date": raw["date"],
            "amount": raw["amount"],
            "quantity": raw["quantity"],
        }
    )
    path = folder / "orders.csv"
    out.to_csv(path, index=False)
    return path
