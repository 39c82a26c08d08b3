"""The stores of the real-store eval and its plan: where the shared data is, one `StoreSpec` per
store found there (each Shopify folder, the Online Retail sample and full file, the CDNOW master
inside lifetimes), the store folder each is given as, the steps run (quick and full) and the names
of the invariants checked, with the constants they share (the cent, the placeholder ids).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[3]  # the repository root
CENT = 0.005
PLACEHOLDER_IDS = frozenset(
    {
        "",
        "nan",
        "none",
        "null",
        "nil",
        "na",
        "n/a",
        "0",
        "-",
        "(blank)",
        "blank",
        "guest",
        "unknown",
        "anonymous",
        "undefined",
        "#n/a",
    }
)
CHAT_CONTACT = "who should I contact this week?"
CHAT_WHY = "why is customer {top} at risk?"
CHAT_WINBACK = "draft a win-back email for my top 3 at-risk customers"
CHAT_RECOMMEND = "what should I recommend to customer {top}?"
EVAL_ACTOR = "real-stores-eval"

FULL_STEPS = (
    "load",
    "summary",
    "score",
    "backtest",
    "brief",
    "chat:contact",
    "chat:why",
    "chat:win-back",
    "chat:recommend",
    "plan",
    "list",
    "show",
    "approve",
    "export",
)
QUICK_STEPS = ("load", "summary", "score", "chat:contact", "plan", "list")
CHECKS = (
    "every step ok",
    "no traceback",
    "rows read = accepted + rejected",
    "no NaN or infinite score",
    "one score row per customer seen",
    "no placeholder customer id",
    "customers = file",
    "revenue = file, to the cent",
    "revenue accounted for",
    "product names, not codes",
    "currency shown",
    "store folder untouched",
)


# --- where the data is -------------------------------------------------------------------------


def find_data_dir(explicit: str | Path | None = None) -> Path | None:
    """--data, else $RETENTION_SHARED_DATA, else ../shared/data beside the repo (as
    tests/builders.py finds it), else /work/shared/data."""
    cands = [
        explicit,
        os.environ.get("RETENTION_SHARED_DATA"),
        REPO.parent / "shared" / "data",
        Path("/work/shared/data"),
    ]
    for c in cands:
        if c and Path(c).is_dir():
            return Path(c)
    return None


def cdnow_master_path() -> Path:
    return Path(str(files("lifetimes") / "datasets" / "CDNOW_master.txt"))


@dataclass
class StoreSpec:
    name: str
    kind: str  # shopify | online_retail | cdnow
    source: Path  # the shared folder or file
    quick: bool = True
    score_args: tuple[str, ...] = ()
    backtest: tuple[str, int] | None = None  # (as-of, horizon) when fixed
    brief_args: tuple[str, ...] = ()
    horizon_days: int = 365  # the chat's (RETENTION_HORIZON_DAYS)


def discover(data: Path | None) -> list[StoreSpec]:
    specs: list[StoreSpec] = []
    if data is not None:
        shop = data / "shopify"
        if shop.is_dir():
            for d in sorted(p for p in shop.iterdir() if p.is_dir()):
                specs.append(StoreSpec(d.name, "shopify", d))
        sample = data / "online_retail_lines_sample.csv"
        if sample.exists():
            specs.append(StoreSpec("online_retail_sample", "online_retail", sample))
        full = data / "online_retail_lines.parquet"
        if full.exists():
            specs.append(
                StoreSpec(
                    "online_retail_full",
                    "online_retail",
                    full,
                    quick=False,
                    backtest=("2011-06-30", 162),
                )
            )
    master = cdnow_master_path()
    if master.exists():
        specs.append(
            StoreSpec(
                "cdnow_master",
                "cdnow",
                master,
                quick=False,
                score_args=("--as-of", "1997-09-30", "--horizon-days", "273"),
                backtest=("1997-09-30", 273),
                brief_args=("--week-ending", "1997-09-30"),
                horizon_days=273,
            )
        )
    return specs


def prepare_store(spec: StoreSpec, tmp: Path) -> Path:
    """The store folder the commands get: the shared Shopify folder itself (read-only), or a
    temp folder with the file under the name a store needs."""
    if spec.kind == "shopify":
        return spec.source
    folder = tmp / "store"
    folder.mkdir(parents=True, exist_ok=True)
    if spec.kind == "online_retail":
        shutil.copyfile(spec.source, folder / ("orders" + spec.source.suffix.lower()))
    else:
        raw = read_cdnow(spec.source)
        pd.DataFrame(
            {
                "customer_id": raw["customer_id"],
                "order_id": [f"T{i:05d}" for i in range(len(raw))],
                "order_date": raw["date"],
                "quantity": raw["quantity"],
                "amount": raw["amount"],
            }
        ).to_csv(folder / "orders.csv", index=False)
    return folder


def read_cdnow(path: Path) -> pd.DataFrame:
    """CDNOW_master.txt: whitespace-separated customer id, date YYYYMMDD, CDs, dollars
    (a header line first)."""
    raw = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, skiprows=_header_lines(path))
    raw = raw.iloc[:, -4:]
    raw.columns = ["customer_id", "date", "quantity", "amount"]
    return raw.reset_index(drop=True)


def _header_lines(path: Path) -> int:
    with path.open() as fh:
        first = fh.readline().split()
    return 0 if first and first[0].isdigit() else 1


def folder_state(folder: Path) -> dict[str, tuple[int, int]]:
    """Each file of a folder by name: its size and modification time."""
    return {
        p.name: (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
        if p.is_file()
    }
