"""One store through every merchant step of the real-store eval (`StoreEval`: load, summary,
score, backtest, brief, the chat turns, the campaign plan and the approvals, with the figures
the report shows), then every store found, each in its own temporary workspace (`run_stores`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from evals.quality.real_stores.checks import Invariants, naive_dates
from evals.quality.real_stores.expected import expected_for
from evals.quality.real_stores.results import Check, Step, StoreResult, short
from evals.quality.real_stores.runner import (
    BASE_ENV,
    Cli,
    Run,
    error_of,
    kb_seed,
    process_state,
    traceback_in,
)
from evals.quality.real_stores.stores import (
    CHAT_CONTACT,
    CHAT_RECOMMEND,
    CHAT_WHY,
    CHAT_WINBACK,
    EVAL_ACTOR,
    FULL_STEPS,
    QUICK_STEPS,
    StoreSpec,
    discover,
    find_data_dir,
    folder_state,
    prepare_store,
)

if TYPE_CHECKING:
    from tools.ingest.load import Store


class StoreEval(Invariants):
    """One store through the steps (`run`), each a CLI command in the store's own workspace,
    then the invariants (`Invariants.check_all`) and the figures the report shows."""

    def __init__(
        self, spec: StoreSpec, *, quick: bool, tmp: Path, cli: Cli, kb: Path | None
    ) -> None:
        self.spec, self.quick, self.tmp, self.cli, self.kb = spec, quick, tmp, cli, kb
        self.ws = tmp / "workspace"
        self.store = spec.source  # the folder the commands get, once prepared (run)
        self.r = StoreResult(spec.name)
        self.runs = {}
        self.texts = {}
        self.loaded = None
        self.exp = None
        self.load_error = None
        self.rejects = {}

    # steps ------------------------------------------------------------------------------------

    def cli_step(
        self,
        step: str,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        refusal_ok: str | None = None,
        ok_if: Callable[[Run], str | None] | None = None,
    ) -> Run:
        """Run one command; ok when it exits 0 (and `ok_if(run)` gives no complaint); a
        one-line refusal (exit 2) is n/a where `refusal_ok` says why one is expected."""
        logs = self.ws / "logs"  # where the CLI keeps the traceback of a bug (stderr gets one line)
        before = folder_state(logs) if logs.is_dir() else {}
        run = self.cli(argv + ["--workspace", str(self.ws)], env=env)
        after = folder_state(logs) if logs.is_dir() else {}
        new = [logs / k for k in after if before.get(k) != after[k]]
        if new:
            run.log = "\n".join(
                [run.log] + [p.read_text(errors="replace")[-20000:] for p in new]
            ).strip()
        self.runs[step] = run
        if run.rc == 0 and not traceback_in(run):
            problem = ok_if(run) if ok_if else None
            self.r.steps[step] = (
                Step("FAIL", problem, run.seconds) if problem else Step("ok", "", run.seconds)
            )
        elif (
            run.rc == 2
            and refusal_ok
            and not traceback_in(run)
            and len(run.err.strip().splitlines()) <= 2
        ):
            self.r.steps[step] = Step("n/a", short(f"{refusal_ok}: {error_of(run)}"), run.seconds)
        else:
            self.r.steps[step] = Step("FAIL", error_of(run), run.seconds)
        return run

    def run(self) -> StoreResult:
        t0 = time.perf_counter()
        spec = self.spec
        steps = QUICK_STEPS if self.quick else FULL_STEPS
        self.r.steps = {s: Step("-") for s in FULL_STEPS}
        before = folder_state(spec.source if spec.source.is_dir() else spec.source.parent)
        store = prepare_store(spec, self.tmp)
        self.store = store
        self.ws.mkdir(parents=True, exist_ok=True)
        if self.kb is not None:
            shutil.copytree(self.kb, self.ws / "chroma")
        try:
            self.exp = expected_for(spec, store)
        except Exception as exc:  # noqa: BLE001 - the eval's own reading of the file
            self.exp = None
            self.r.info["expected_error"] = f"{type(exc).__name__}: {exc}"
        unusable = self.exp.unusable if self.exp else None
        refuse = f"expected: {unusable}" if unusable else None
        self.step_load(refuse)
        self.cli_step("summary", ["summary", "--store", str(store)], refusal_ok=refuse)
        self.texts["summary"] = self.runs["summary"].out
        scores_csv = self.ws / "eval_scores.csv"
        self.cli_step(
            "score",
            ["score", "--store", str(store), "--out", str(scores_csv), *spec.score_args],
            refusal_ok=refuse,
            ok_if=lambda r: None if scores_csv.exists() else "no scores file written",
        )
        scores = _read_scores_csv(scores_csv)
        top = _top_customer(scores)
        self.r.info["top_customer"] = top
        env = {"RETENTION_HORIZON_DAYS": str(spec.horizon_days)}
        if "backtest" in steps:
            self.step_backtest(refuse)
        if "brief" in steps:
            self.cli_step(
                "brief",
                ["brief", "--store", str(store), *spec.brief_args],
                refusal_ok=refuse,
                ok_if=lambda r: (
                    None if list(self.ws.glob("briefs/*/brief.md")) else "no brief.md written"
                ),
            )
            self.texts["brief"] = self.runs["brief"].out + "\n".join(
                p.read_text() for p in self.ws.glob("briefs/*/brief.md")
            )
        turns = [("chat:contact", CHAT_CONTACT)]
        if not self.quick:
            turns += [
                ("chat:why", CHAT_WHY),
                ("chat:win-back", CHAT_WINBACK),
                ("chat:recommend", CHAT_RECOMMEND),
            ]
        for step, message in turns:
            if "{top}" in message and top is None:
                self.r.steps[step] = Step(
                    "n/a" if unusable else "FAIL", "no top customer: the score step gave no scores"
                )
                continue
            text = message.format(top=top)

            def answered(r: Run, t: str = text) -> str | None:
                return _chat_problem(r.out, t, top)

            self.cli_step(
                step,
                ["chat", "--store", str(store), text],
                env=env,
                refusal_ok=refuse,
                ok_if=answered,
            )
            self.texts[step] = self.runs[step].out
        self.cli_step(
            "plan", ["campaigns", "plan", "--store", str(store)], env=env, refusal_ok=refuse
        )
        drafts = self.step_approvals(steps)
        self.r.seconds = time.perf_counter() - t0
        self.check_all(scores_csv, scores, drafts, before)
        self.info_summary(drafts, scores)
        self.r.seconds = time.perf_counter() - t0
        return self.r

    def step_load(self, refuse: str | None) -> None:
        t = time.perf_counter()
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                from tools.ingest.load import load_store

                self.loaded = load_store(self.store, rejects_dir=self.ws / "rejects")
            self.r.steps["load"] = Step("ok", "", time.perf_counter() - t)
        except Exception as exc:  # noqa: BLE001
            data_error = type(exc).__name__ == "DataError"
            self.load_error = f"{type(exc).__name__}: {exc}"
            if not data_error:
                tb = traceback.format_exc()
                where = [ln.strip() for ln in tb.splitlines() if ln.strip().startswith("File ")]
                self.runs["load"] = Run(1, "", tb, "", time.perf_counter() - t)
                reason = f"traceback: {type(exc).__name__}: {exc} ({where[-1] if where else ''})"
                self.r.steps["load"] = Step("FAIL", short(reason), time.perf_counter() - t)
            elif refuse:
                self.r.steps["load"] = Step(
                    "n/a", short(f"{refuse}: {exc}"), time.perf_counter() - t
                )
            else:
                self.r.steps["load"] = Step(
                    "FAIL", short(f"DataError: {exc}"), time.perf_counter() - t
                )

    def step_backtest(self, refuse: str | None) -> None:
        spec = self.spec
        if spec.backtest:
            as_of, horizon = spec.backtest
            argv = ["--as-of", as_of, "--horizon-days", str(horizon)]
            too_short = None
        else:
            span = _span_days(self.loaded)
            too_short = (
                f"{span} days of history, under the 14 a backtest needs"
                if span is not None and span < 14
                else None
            )
            horizon = 7 if span is None or span < 21 else int(min(180, max(7, span // 3 // 7 * 7)))
            argv = ["--horizon-days", str(horizon)]
        self.r.info["backtest"] = " ".join(argv)
        self.cli_step(
            "backtest",
            ["backtest", "--store", str(self.store), *argv],
            refusal_ok=refuse or too_short,
        )

    def step_approvals(self, steps: tuple[str, ...]) -> list[dict]:
        run = self.cli_step(
            "list",
            ["approvals", "list", "--json"],
            ok_if=lambda r: None if _json(r.out) is not None else "output is not JSON",
        )
        drafts = _json(run.out) or []
        if "show" in steps:
            if drafts:
                self.cli_step("show", ["approvals", "show", str(drafts[0]["id"])])
                self.texts["show"] = self.runs["show"].out
            else:
                self.r.steps["show"] = Step("n/a", "no drafts to show")
        if "approve" in steps:
            pending = [d["id"] for d in drafts if _draft_state(d) == "pending"][:3]
            if pending:  # the eval's approver, registered as the workspace's first
                self.cli(
                    ["approvals", "people", "add", EVAL_ACTOR, "--yes", "--workspace", str(self.ws)]
                )
                self.cli_step(
                    "approve", ["approvals", "approve", *map(str, pending), "--by", EVAL_ACTOR]
                )
            else:
                self.r.steps["approve"] = Step("n/a", "no pending drafts")
            self.r.info["approved"] = len(pending) if self.r.steps["approve"].status == "ok" else 0
        if "export" in steps:
            out = self.ws / "exports" / "eval_export.csv"
            none = "nothing approved to export" if not self.r.info.get("approved") else None
            self.cli_step(
                "export",
                ["approvals", "export", "--out", str(out), "--by", EVAL_ACTOR],
                refusal_ok=none,
            )
            self.texts["export"] = self.runs["export"].out
        if "list" in steps and drafts:
            again = _json(
                self.cli(["approvals", "list", "--json", "--workspace", str(self.ws)]).out
            )
            drafts = again if isinstance(again, list) else drafts
        return drafts

    def info_summary(self, drafts: list[dict], scores: pd.DataFrame | None) -> None:
        info, exp = self.r.info, self.exp
        if self.loaded is not None:
            o = self.loaded.orders
            info["customers"] = int(o["customer_id"].nunique())
            info["orders"] = (
                int(o.loc[o["amount"] >= 0, "order_id"].nunique()) if "order_id" in o else None
            )
            info["revenue"] = float(o["amount"].sum())
            info["currency"] = getattr(self.loaded, "currency", None)
            reasons: dict[str, int] = {}
            for r in self.loaded.reports:
                for k, v in (r.reasons or {}).items():
                    reasons[k] = reasons.get(k, 0) + int(v)
            info["rejected"] = reasons
        if exp is not None:
            info["file"] = {
                "revenue": exp.file_total,
                "customer_revenue": exp.customer_revenue,
                "merchandise": exp.merchandise_revenue,
                "currency": ", ".join(exp.currencies) or None,
                "notes": exp.notes,
                "unusable": exp.unusable,
            }
        by_status: dict[str, int] = {}
        by_campaign: dict[str, int] = {}
        for d in drafts:
            by_status[_draft_state(d)] = by_status.get(_draft_state(d), 0) + 1
            by_campaign[str(d.get("campaign_id"))] = (
                by_campaign.get(str(d.get("campaign_id")), 0) + 1
            )
        info["drafts"] = by_status
        info["drafts_by_campaign"] = by_campaign
        if (
            scores is not None
            and "next_best_product" in scores.columns
            and exp is not None
            and exp.names
        ):
            empty = int(scores["next_best_product"].fillna("").astype(str).str.strip().eq("").sum())
            if empty:
                info.setdefault("notes", []).append(
                    f"next best product empty for {empty:,} of {len(scores):,} scored customers"
                )
        info["held_back"] = _held_back(self.runs.get("plan"))
        export = self.runs.get("export")
        if export is not None and export.rc == 0:
            info["export"] = [
                ln.strip()
                for ln in export.out.splitlines()
                if ln.strip() and not ln.startswith(("Any offer codes", "Nothing is sent"))
            ]
        info["answers"] = {k: short(v, 800) for k, v in self.texts.items() if k.startswith("chat:")}
        info["seconds"] = {
            k: round(s.seconds, 1) for k, s in self.r.steps.items() if s.status != "-"
        }


def _read_scores_csv(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    try:
        return pd.read_csv(path, dtype={"customer_id": str}, keep_default_na=True)
    except Exception:  # noqa: BLE001
        return None


def _top_customer(scores: pd.DataFrame | None) -> str | None:
    if (
        scores is None
        or scores.empty
        or not {"churn_probability", "predicted_clv"} <= set(scores.columns)
    ):
        return None
    at_stake = pd.to_numeric(scores["churn_probability"], errors="coerce") * pd.to_numeric(
        scores["predicted_clv"], errors="coerce"
    )
    if at_stake.notna().sum() == 0:
        return str(scores["customer_id"].iloc[0])
    return str(scores.loc[at_stake.idxmax(), "customer_id"])


def _chat_problem(out: str, message: str, top: str | None) -> str | None:
    text = out.strip()
    if not text:
        return "no answer"
    err = next((ln for ln in text.splitlines() if ln.strip().startswith("Error")), None)
    if err:
        return short(f"answer: {err.strip()}")
    if "can't map that request" in text:
        return "answer: the request was not understood"
    if top and "{top}" not in message and top in message and top not in text:
        return f"the answer does not mention customer {top}"
    return None


def _span_days(loaded: Store | None) -> int | None:
    """Days from the store's first order to its last."""
    if loaded is None or not len(loaded.orders):
        return None
    d = naive_dates(loaded.orders["order_date"])
    return int((d.max() - d.min()).days)


def _held_back(plan: Run | None) -> list[str]:
    """Who the plan left out and why, from `campaigns plan`'s output."""
    if plan is None:
        return []
    if plan.rc:
        return ["plan failed: " + error_of(plan)]
    held = [
        f"{m.group(2)} {m.group(1):>}" for m in re.finditer(r"skipped ([\d,]+): (.+)", plan.out)
    ]
    m = re.search(r"\(([\d,]+) blocked by the guardrails\)", plan.out)
    if m:
        held.append(f"blocked by the guardrails {m.group(1)}")
    m = re.search(r"([\d,]+) customers held out as control", plan.out)
    if m and not any(h.startswith("control group") for h in held):
        held.append(f"control group {m.group(1)}")
    if not held:  # an output this eval does not know: show it as it is
        held = [ln.strip() for ln in plan.out.splitlines() if ln.strip()]
    return held


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return None


def _draft_state(d: dict) -> str:
    return str(d.get("status") or d.get("state") or "?")


# --- all stores -------------------------------------------------------------------------------------


def run_stores(
    names: list[str] | None = None,
    *,
    quick: bool = False,
    data: str | Path | None = None,
    subprocess_mode: bool = False,
    progress: Callable[[str], object] = print,
) -> list[StoreResult]:
    """The stores named (else every store found, the quick ones with `quick`), each in its own
    temporary workspace; a crash of the eval itself is a failure of that store."""
    specs = discover(find_data_dir(data))
    if names:
        known = {s.name: s for s in specs}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise SystemExit(f"unknown store(s) {', '.join(unknown)}; known: {', '.join(known)}")
        specs = [known[n] for n in names]
    elif quick:
        specs = [s for s in specs if s.quick]
    cli = Cli(subprocess_mode=subprocess_mode)
    results: list[StoreResult] = []
    with process_state(), tempfile.TemporaryDirectory(prefix="retention_real_stores_") as d:
        for k, v in BASE_ENV.items():
            os.environ.setdefault(k, v)
        kb = kb_seed(progress)
        for spec in specs:
            progress(f"real stores: {spec.name} ...")
            tmp = Path(d) / spec.name
            tmp.mkdir()
            try:
                res = StoreEval(spec, quick=quick, tmp=tmp, cli=cli, kb=kb).run()
            except Exception as exc:  # noqa: BLE001 - a bug in the eval itself: say so, go on
                res = StoreResult(spec.name)
                res.checks["every step ok"] = Check(
                    "FAIL",
                    f"the eval crashed: {type(exc).__name__}: {exc}\n" + traceback.format_exc(),
                )
            results.append(res)
            progress(
                f"real stores: {spec.name} done in {res.seconds:.1f} s, "
                f"{len(res.failures())} invariant(s) fail"
            )
    return results
