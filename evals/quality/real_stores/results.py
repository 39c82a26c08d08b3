"""What the real-store eval finds on one store: each step's outcome (`Step`), each invariant's
(`Check`), and the store's result with the figures the report shows (`StoreResult`), plus the
one-line shortening every reason goes through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Step:
    """One step's outcome on one store, why where it failed or did not apply, and its time."""

    status: str  # ok | n/a | FAIL | -
    reason: str = ""
    seconds: float = 0.0


@dataclass
class Check:
    """One invariant's verdict on one store, and what it found."""

    status: str  # pass | FAIL | n/a
    detail: str = ""


@dataclass
class StoreResult:
    """One store: its steps and checks by name, the figures the report shows, its time."""

    name: str
    steps: dict[str, Step] = field(default_factory=dict)
    checks: dict[str, Check] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def failures(self) -> dict[str, str]:
        return {k: c.detail for k, c in self.checks.items() if c.status == "FAIL"}

    def explain(self) -> str:
        lines = [f"{self.name}: {len(self.failures())} invariant(s) fail"]
        lines += [f"  {k}: {v}" for k, v in self.failures().items()]
        lines += [
            f"  step {k}: {s.status} {s.reason}"
            for k, s in self.steps.items()
            if s.status == "FAIL"
        ]
        return "\n".join(lines)


def short(text: str, n: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"
