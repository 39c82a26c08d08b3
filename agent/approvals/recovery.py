"""What lets an export survive a kill: who is writing its file, and the files themselves.

An export records the process writing it (`writer_id`: host:pid:start) so that an export still
being written is not taken for an interrupted one (`writing`, `alive`; one recorded on another
machine counts as interrupted after `STALE_AFTER_S`); `holds` tells the file an interrupted export
left from another file at its path; `sweep_temp` removes the temporary files a killed writer
left (tools.csvout); `free_path` finds a file name not taken; `inside` says whether a path is
in the workspace.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd


def inside(path: Path, root: Path) -> bool:
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
        return True
    except ValueError:
        return False


def holds(path: Path, draft_ids: list[int]) -> bool:
    """Whether the CSV at `path` is an export of exactly these drafts (ours, from before a kill)."""
    try:
        ids = pd.read_csv(path, usecols=["draft_id"])["draft_id"]
        return sorted(int(i) for i in ids) == sorted(int(i) for i in draft_ids)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def free_path(path: Path) -> Path:
    """`path`, or `<stem>_2<suffix>`... when a file (not of this database) is already there."""
    n, p = 1, Path(path)
    while p.exists():
        n += 1
        p = path.with_name(f"{path.stem}_{n}{path.suffix}")
    return p


def sweep_temp(path: Path) -> None:
    """Remove the temporary files (tools.csvout: .<name>.<pid>.<thread>.tmp) that a killed
    writer of `path` left; those of a live process are its, and kept."""
    import glob

    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 :].split(".")[0]
        if pid.isdigit() and not alive(int(pid)):
            tmp.unlink(missing_ok=True)


STALE_AFTER_S = 600
"""An unfinished export recorded on another machine counts as interrupted after this long."""


def _proc_start(pid: int) -> str:
    """The start time of a process (Linux /proc), to tell it from a later one with its pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def writer_id() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{_proc_start(os.getpid())}"


def writing(writer: str | None) -> bool | None:
    """Whether the process that recorded an export is still running: True, False, or None
    when it cannot be told (another machine, or no writer recorded)."""
    import socket

    host, _, rest = (writer or "").partition(":")
    pid, _, start = rest.partition(":")
    if not writer or host != socket.gethostname() or not pid.isdigit():
        return None
    if int(pid) == os.getpid():
        return True  # this process: another thread is writing it
    return alive(int(pid)) and (not start or _proc_start(int(pid)) in ("", start))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
