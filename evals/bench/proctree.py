"""Wall time and peak memory of a command and every process it starts (Linux /proc).

    m = run_measured(["retention", "score", ...])   # m.wall_s, m.peak_bytes, m.stdout

A step may start helpers (`tools.ingest.load.load_store` runs `python -m tools.ingest.load_side` for a large
store), so the peak is the largest sum of resident memory (RSS) over the whole process tree,
sampled every `interval` seconds while the command runs. A spike shorter than the interval can
fall between samples, so the peak is also at least the largest high-water mark (VmHWM) any
process of the tree showed. (Not `ru_maxrss` of the reaped children: in a process that has
other children, such as a test run, that counts whichever old child happens to be reaped.) RSS counts pages shared by
two processes twice: the sum is an upper bound on what the tree needs, which is the honest side
for a memory budget. No dependency beyond the standard library.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass

PAGE = os.sysconf("SC_PAGE_SIZE")


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, resident bytes) of every process now visible in /proc."""
    out: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                raw = fh.read()
        except OSError:  # it ended while we looked
            continue
        # fields after "(comm)": state ppid ... rss is field 24 overall (the 22nd after comm)
        rest = raw[raw.rindex(b")") + 2 :].split()
        out[int(entry.name)] = (int(rest[1]), int(rest[21]) * PAGE)
    return out


def tree_pids(pid: int) -> tuple[list[int], int]:
    """`pid` and all its descendants now alive, and their resident bytes summed (0 if gone)."""
    procs = _processes()
    children: dict[int, list[int]] = {}
    for p, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(p)
    pids, total, todo = [], 0, [pid]
    while todo:
        p = todo.pop()
        if p in procs:
            pids.append(p)
            total += procs[p][1]
        todo += children.get(p, [])
    return pids, total


def high_water(pid: int) -> int:
    """The process's own peak resident bytes so far (VmHWM), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class Measured:
    wall_s: float
    peak_bytes: int
    stdout: str = ""

    @property
    def peak_gib(self) -> float:
        return self.peak_bytes / 2**30


def run_measured(
    cmd: list[str], *, env: dict | None = None, capture: bool = False, interval: float = 0.2
) -> Measured:
    """Run `cmd` to the end (raising CalledProcessError on a non-zero exit) and measure it."""
    peak = 0
    done = threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE if capture else subprocess.DEVNULL, text=True
    )

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            pids, total = tree_pids(proc.pid)
            # a spike between two samples still shows in each process's own high-water mark
            peak = max(peak, total, *(high_water(p) for p in pids))
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, _ = proc.communicate()
    finally:
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd, out)
    return Measured(wall, peak, out or "")
