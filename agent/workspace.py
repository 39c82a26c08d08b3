"""The workspace: the one folder the app writes to (DESIGN.md, "Workspace").

Deleting it loses no store data: it only holds what the app derived.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def at(cls, root: str | Path) -> Workspace:
        ws = cls(Path(root).expanduser())
        ws.root.mkdir(parents=True, exist_ok=True)
        return ws

    def sub(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def demo_store(self) -> Path:
        return self.root / "demo-store"

    @property
    def rejects(self) -> Path:
        return self.sub("rejects")

    @property
    def scores(self) -> Path:
        return self.sub("scores")

    @property
    def chroma(self) -> Path:
        return self.sub("chroma")

    @property
    def approvals_db(self) -> Path:
        return self.root / "approvals.sqlite"

    @property
    def briefs(self) -> Path:
        return self.sub("briefs")

    @property
    def exports(self) -> Path:
        return self.sub("exports")
