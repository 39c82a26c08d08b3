"""Benchmark: BG/NBD on compressed sufficient statistics vs lifetimes on per-customer rows.

    .venv/bin/python -m evals.bench.fit [--customers 1000000] [--seed 0] [--skip-lifetimes]
                                        [--repeats 2]

Simulates a population from known BG/NBD parameters (`simulate_bgnbd_summary` below,
whole days, ages up to two years), fits it twice — `tools.models.clv_fit.fit_purchase_model` on the
unique (x, t_x, T) rows with weights, and `lifetimes.BetaGeoFitter.fit` on the raw rows — and
reports both times, the speed-up (target >= 10x), the largest relative parameter difference
(target <= 1e-4; both fits include their Hessian), and the time `tools.models.clv_predict.predict_clv`
takes to score every customer,
intervals included (target <= 10 s for a million). Prints the machine's size first.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np
import pandas as pd

from tools.models import clv as C
from tools.models import clv_fit as F

TRUE = {"r": 0.243, "alpha": 30.9, "a": 0.793, "b": 2.43}  # CDNOW-like, days


def simulate_bgnbd_summary(T, *, r, alpha, a, b, rng) -> tuple[np.ndarray, np.ndarray]:
    """Draw (x, t_x) for customers observed for T each under BG/NBD (FHL 2005a, section 2):
    λ ~ Gamma(r, α), p ~ Beta(a, b); repeat purchases follow Poisson(λ) and the customer drops
    out right after the G-th, G ~ Geometric(p). Given K ~ Poisson(λT) events in (0, T],
    x = min(K, G) and the x-th of K uniform event times is T * Beta(x, K - x + 1)."""
    T = np.asarray(T, float)
    lam = rng.gamma(r, 1.0 / alpha, size=T.shape)
    p = rng.beta(a, b, size=T.shape)
    k = rng.poisson(lam * T)
    x = np.minimum(k, rng.geometric(p))
    tx = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(k - x + 1, 1)), 0.0)
    return x.astype(float), tx


def machine() -> str:
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{platform.machine()} {platform.system()}, {cores} usable cores "
        f"(os.cpu_count {os.cpu_count()}), {ram:.1f} GiB RAM, Python "
        f"{platform.python_version()}, numpy {np.__version__}"
    )


def population(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    T = rng.integers(1, 731, size=n).astype(float)
    x, tx = simulate_bgnbd_summary(T, rng=rng, **TRUE)
    x = x.astype(np.int64)
    m = np.where(x > 0, rng.gamma(6.25, 1 / rng.gamma(3.74, 1 / 15.44, n)), 0.0)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n).astype(str),
            "frequency": x,
            "recency": np.floor(tx),
            "T": T,
            "monetary_value": m,
        }
    )


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-lifetimes", action="store_true")
    ap.add_argument("--repeats", type=int, default=2, help="best-of-N timings")
    args = ap.parse_args(argv)
    print("machine:", machine())
    rfm = population(args.customers, args.seed)
    x, tx, T = (rfm[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    print(f"customers: {len(rfm):,}; repeat purchases: {int(x.sum()):,}; true params {TRUE}")

    t_ours = t_compress = float("inf")
    for _ in range(args.repeats):  # best of N: the machine may be shared
        t0 = time.perf_counter()
        ux, utx, uT, w, _ = F.compress(x, tx, T)
        t1 = time.perf_counter()
        fit = F.fit_purchase_model("bgnbd", ux, utx, uT, w)
        t_compress = min(t_compress, t1 - t0)
        t_ours = min(t_ours, time.perf_counter() - t0)
    print(
        f"compressed: {len(ux):,} unique rows ({len(x) / len(ux):.1f}x fewer), compression "
        f"{t_compress:.2f} s, total fit {t_ours:.2f} s, converged {fit.converged}"
    )
    print("  params:", {k: round(v, 6) for k, v in fit.params.items()})
    out = {
        "customers": len(rfm),
        "unique_rows": len(ux),
        "t_compressed_s": t_ours,
        "params": fit.params,
    }

    if not args.skip_lifetimes:
        from lifetimes import BetaGeoFitter

        t_lt = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bgf = BetaGeoFitter().fit(x, tx, T)
            t_lt = min(t_lt, time.perf_counter() - t0)
        rel = max(abs(fit.params[k] / bgf.params_[k] - 1) for k in fit.params)
        print(f"lifetimes BetaGeoFitter on {len(x):,} raw rows: {t_lt:.2f} s")
        print("  params:", {k: round(float(v), 6) for k, v in bgf.params_.items()})
        print(
            f"speed-up: {t_lt / t_ours:.1f}x (target >= 10x); max relative parameter "
            f"difference {rel:.2e} (target <= 1e-4)"
        )
        out.update(t_lifetimes_s=t_lt, speedup=t_lt / t_ours, max_rel_diff=rel)

    params = C.fit_clv(rfm)
    t0 = time.perf_counter()
    scores, _ = C.predict_clv(rfm, params, horizon_days=365, as_of="2025-01-01")
    t_pred = time.perf_counter() - t0
    print(
        f"predict_clv for {len(scores):,} customers (90% intervals, 200 draws): "
        f"{t_pred:.2f} s (target <= 10 s); model {params.model}, "
        f"any NaN: {bool(scores.isna().any().any())}"
    )
    out["t_predict_s"] = t_pred
    return out


if __name__ == "__main__":
    main()
