"""Running the CLI for the real-store eval: `retention ARGS` in this process (output and the
agent/tools/knowledge loggers' warnings captured) or as a fresh process (`Cli`, giving a
`Run`), the one line a person would read from a failed run, the playbook index built once and
copied into each workspace (`kb_seed`), and the process left as it was found (`process_state`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from evals.quality.real_stores.results import short
from evals.quality.real_stores.stores import REPO

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class Run:
    """One command's exit status, stdout, stderr, the warnings logged and its seconds."""

    rc: int
    out: str
    err: str
    log: str
    seconds: float


class _Capture(logging.Handler):
    """Keeps each warning (and worse) logged, with its traceback where it has one."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.lines.append(text)


BASE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "RETENTION_MODEL": "",
    "COLUMNS": "250",
}


class Cli:
    """`retention ARGS`: in this process (agent.cli.main.main, output captured, an escaping
    exception printed as a traceback the way Python would) or as a fresh process."""

    def __init__(self, *, subprocess_mode: bool = False, timeout: float = 1800) -> None:
        self.subprocess_mode = subprocess_mode
        self.timeout = timeout

    def __call__(self, argv: list[str], env: dict[str, str] | None = None) -> Run:
        env = {**BASE_ENV, **(env or {})}
        start = time.perf_counter()
        if self.subprocess_mode:
            try:
                p = subprocess.run(
                    [sys.executable, "-m", "agent.cli.main", *argv],
                    cwd=REPO,
                    capture_output=True,
                    text=True,
                    timeout=self.timeout,
                    env={**os.environ, **env},
                )
                return Run(p.returncode, p.stdout, p.stderr, "", time.perf_counter() - start)
            except subprocess.TimeoutExpired as exc:
                return Run(
                    124,
                    str(exc.stdout or ""),
                    f"timed out after {self.timeout:.0f} s",
                    "",
                    time.perf_counter() - start,
                )
        out, err, cap = io.StringIO(), io.StringIO(), _Capture()
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        loggers = [logging.getLogger(n) for n in ("agent", "tools", "knowledge")]
        for lg in loggers:
            lg.addHandler(cap)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    from agent.cli.main import main

                    _wide_consoles()
                    rc = main(argv)
                except SystemExit as exc:
                    rc = exc.code if isinstance(exc.code, int) else 1
                except BaseException:  # what an uncaught exception prints in a real process
                    traceback.print_exc()
                    rc = 1
        finally:
            for lg in loggers:
                lg.removeHandler(cap)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return Run(
            int(rc or 0),
            out.getvalue(),
            err.getvalue(),
            "\n".join(cap.lines),
            time.perf_counter() - start,
        )


def _consoles() -> list[Console]:
    """The rich consoles the CLI modules made at import."""
    try:
        from rich.console import Console
    except ImportError:  # pragma: no cover
        return []
    return [
        v
        for name, mod in list(sys.modules.items())
        if name.startswith(("agent.", "ui.")) and mod is not None
        for v in list(vars(mod).values())
        if isinstance(v, Console)
    ]


def _wide_consoles() -> None:
    """Rich consoles made at import keep the width they found: set wide ones, so that a
    currency or a product name is not wrapped mid-word."""
    for c in _consoles():
        c.width = 250


def kb_seed(progress: Callable[[str], object] = print) -> Path | None:
    """A playbook index (Chroma folder) built once per knowledge/ version and embedder, to
    copy into each store's workspace. None when it cannot be built (the chat then indexes)."""
    try:
        import chromadb

        from knowledge import KnowledgeBase
        from knowledge.embeddings import MiniLMEmbedder
    except Exception:  # noqa: BLE001 - the chat step will show what is wrong
        return None
    h = hashlib.sha256()
    kdir = REPO / "knowledge"
    for p in sorted(kdir.rglob("*")):
        if p.is_file() and p.suffix in (".py", ".md", ".yaml", ".yml", ".json"):
            h.update(str(p.relative_to(kdir)).encode())
            h.update(p.read_bytes())
    h.update(MiniLMEmbedder.name.encode())
    h.update(str(getattr(chromadb, "__version__", "")).encode())
    root = Path(
        os.environ.get("RETENTION_EVAL_CACHE") or Path.home() / ".cache" / "retention" / "evals"
    )
    target = root / f"kb-{h.hexdigest()[:16]}"
    if (target / "chroma").is_dir():
        return target / "chroma"
    try:
        root.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix="kb-build-", dir=root))
        keep: Path | None = target
    except OSError:
        build, keep = Path(tempfile.mkdtemp(prefix="retention_kb_")), None
    progress("real stores: indexing the playbooks once (cached for later runs) ...")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            KnowledgeBase(build / "chroma").index()
    except Exception:  # noqa: BLE001
        shutil.rmtree(build, ignore_errors=True)
        return None
    if keep is None:
        return build / "chroma"
    try:
        os.replace(build, keep)
    except OSError:  # another run got there first
        shutil.rmtree(build, ignore_errors=True)
    return target / "chroma"


def error_of(run: Run) -> str:
    """The one line a person would read: the exception of a traceback (printed, or kept in
    the workspace's logs), else stderr's first line."""
    err = run.err.strip()
    for text, said in ((err, ""), (run.log, f"{short(err, 100)} | logged ")):
        if "Traceback" in text:
            tail = [ln for ln in text[text.rindex("Traceback") :].splitlines() if ln.strip()]
            where = next(
                (ln.strip() for ln in reversed(tail) if ln.strip().startswith("File ")), ""
            )
            exc = next(
                (ln.strip() for ln in reversed(tail) if not ln.startswith(" ")), tail[-1].strip()
            )
            return short(f"{said}traceback: {exc} ({where})", 400)
    if err:
        return short(
            err.splitlines()[0] if len(err.splitlines()) == 1 else " ".join(err.splitlines())
        )
    return short(
        run.out.strip().splitlines()[-1] if run.out.strip() else f"exit {run.rc}, no output"
    )


def traceback_in(run: Run) -> bool:
    """Whether the run printed or logged a traceback."""
    return "Traceback" in run.err or "Traceback" in run.log


@contextlib.contextmanager
def process_state() -> Iterator[None]:
    """Leave this process as it was (a test run goes on after the eval): the environment,
    the assistant's logger (the chat points it at a workspace's chat.log) and the width of
    the CLI's consoles."""
    env = dict(os.environ)
    lg = logging.getLogger("agent")
    handlers, propagate, level = list(lg.handlers), lg.propagate, lg.level
    widths = {id(c): (c, c._width) for c in _consoles()}
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(env)
        for h in [h for h in lg.handlers if h not in handlers]:
            lg.removeHandler(h)
            h.close()
        lg.propagate, lg.level = propagate, level
        for c in _consoles():
            c._width = widths[id(c)][1] if id(c) in widths else None
