"""Files written whole or not at all: through a temporary file beside the target and a rename.

A crash never leaves half a file and a reader never sees one. The temporary name is hidden and
unique per process and thread (`.<name>.<pid>.<thread>.tmp`), so two writers never share one;
one left by a killed process ends in `.tmp`, which is how a later run finds and removes it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path


def temporary_path(path: Path) -> Path:
    """The temporary file a write of `path` goes through."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """`write(tmp)`, then `tmp` renamed onto `path` (its folder made if missing); returns `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # only there when the write or the rename failed
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """`text` (UTF-8) at `path`, whole or not at all."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
