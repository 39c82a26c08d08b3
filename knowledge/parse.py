"""Read playbook files: YAML front matter (validated) and `## ` sections.

A malformed playbook never stops the others: `load_playbooks` returns what parsed plus one
`PlaybookError` per bad file, naming the file and the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from knowledge.schema import Playbook, PlaybookMeta, Section

HEADING = re.compile(r"^##\s+(.+?)\s*#*\s*$")


@dataclass(frozen=True)
class PlaybookError:
    """Why one playbook file was skipped."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class PlaybookParseError(ValueError):
    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.error = PlaybookError(path, line, message)


def _front_matter(front: str):
    """yaml.safe_load, with libyaml's loader where PyYAML has it (about 10x faster); a bad
    front matter is parsed again by the Python loader, whose messages and lines are reported."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.load(front, Loader=fast)
        except yaml.YAMLError:
            pass
    return yaml.safe_load(front)


def builtin_playbook_dir() -> Path:
    """The playbooks shipped with the package (knowledge/playbooks)."""
    return Path(str(resources.files("knowledge").joinpath("playbooks")))


def parse_playbook(path: str | Path, text: str | None = None) -> Playbook:
    """Parse one playbook file; raises PlaybookParseError naming the file and line."""
    path = Path(path)
    if text is None:
        text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise PlaybookParseError(path, 1, "no YAML front matter (the file must start with ---)")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise PlaybookParseError(path, 1, "front matter is not closed with ---") from None
    front = "\n".join(lines[1:end])
    try:
        data = _front_matter(front)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 2
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PlaybookParseError(path, line, f"bad YAML in front matter: {problem}") from None
    if not isinstance(data, dict):
        raise PlaybookParseError(path, 2, "front matter must be a YAML mapping (key: value)")
    try:
        meta = PlaybookMeta.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first.get("loc", ())
        line = _line_of(lines[1:end], loc)
        where = ".".join(str(p) for p in loc) or "front matter"
        raise PlaybookParseError(path, line, f"{where}: {_message(first)}") from None
    if meta.id != path.stem:
        line = _line_of(lines[1:end], ("id",))
        raise PlaybookParseError(
            path, line, f"id {meta.id!r} must equal the file name stem {path.stem!r}"
        )
    intro, sections = _sections(lines, end + 1)
    if not sections:
        raise PlaybookParseError(path, end + 2, "no '## ' sections after the front matter")
    return Playbook(meta=meta, sections=tuple(sections), path=path, intro=intro)


def _message(err: ErrorDetails) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return f"{err.get('input')!r} is not allowed; {err.get('msg', '').lower()}"
    if kind == "extra_forbidden":
        return "unknown field (check the spelling)"
    return err.get("msg", "invalid value")


def _line_of(front: list[str], loc: tuple) -> int:
    """1-based file line of the offending key (or list item); the opening --- is line 1."""
    if not loc:
        return 2
    key = str(loc[0])
    start = next((i for i, ln in enumerate(front) if re.match(rf"^{re.escape(key)}\s*:", ln)), None)
    if start is None:
        return len(front) + 2  # a missing key: point at the closing ---
    if len(loc) > 1 and isinstance(loc[1], int):
        items = [
            i
            for i in range(start + 1, len(front))
            if re.match(r"^\s+-\s", front[i]) or re.match(r"^-\s", front[i])
        ]
        # stop at the next top-level key
        nxt = next(
            (i for i in range(start + 1, len(front)) if re.match(r"^[A-Za-z_]\w*\s*:", front[i])),
            len(front),
        )
        items = [i for i in items if i < nxt]
        if loc[1] < len(items):
            return items[loc[1]] + 2
    return start + 2


def _sections(lines: list[str], body_start: int) -> tuple[str, list[Section]]:
    intro: list[str] = []
    sections: list[Section] = []
    heading: str | None = None
    line_no = 0
    buf: list[str] = []
    in_code = False
    for i in range(body_start, len(lines)):
        ln = lines[i]
        if ln.lstrip().startswith("```"):
            in_code = not in_code
        m = None if in_code else HEADING.match(ln)
        if m:
            if heading is not None:
                sections.append(Section(heading, "\n".join(buf).strip(), line_no))
            heading, line_no, buf = m.group(1).strip(), i + 1, []
        elif heading is None:
            if not ln.startswith("# "):
                intro.append(ln)
        else:
            buf.append(ln)
    if heading is not None:
        sections.append(Section(heading, "\n".join(buf).strip(), line_no))
    return "\n".join(intro).strip(), sections


@dataclass(frozen=True)
class LoadResult:
    playbooks: tuple[Playbook, ...]
    errors: tuple[PlaybookError, ...]
    notes: tuple[str, ...] = ()


def load_playbooks(dirs: list[Path] | tuple[Path, ...]) -> LoadResult:
    """Every `*.md` under the given folders, in order; a later folder's playbook with the same
    id replaces an earlier one (so a merchant can override a built-in)."""
    found: dict[str, Playbook] = {}
    errors: list[PlaybookError] = []
    notes: list[str] = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            errors.append(PlaybookError(d, 0, "playbook folder not found"))
            continue
        for path in sorted(d.glob("*.md")):
            if path.name.lower() == "readme.md":
                continue
            try:
                pb = parse_playbook(path)
            except PlaybookParseError as exc:
                errors.append(exc.error)
                continue
            except (OSError, UnicodeDecodeError) as exc:
                errors.append(PlaybookError(path, 0, f"cannot read: {exc}"))
                continue
            if pb.id in found:
                notes.append(f"{path} replaces playbook {pb.id!r} from {found[pb.id].path}")
            found[pb.id] = pb
    return LoadResult(tuple(found.values()), tuple(errors), tuple(notes))
