"""DESIGN.md's import table, applied to every module, and no import cycles.

    ui ──► agent ──► tools
              └────► knowledge
    evals ──► any

Every import counts, the ones inside functions too: a function-level import hides an arrow
from the reader, not from this test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("tools", "knowledge", "agent", "ui", "evals")
MAY_IMPORT = {
    "tools": {"tools"},
    "knowledge": {"knowledge"},
    "agent": {"agent", "tools", "knowledge"},
    "ui": {"ui", "agent", "tools", "knowledge"},
    "evals": set(FOLDERS),
}
LLM_VECTOR_UI = {
    "langchain",
    "langchain_core",
    "langchain_openai",
    "openai",
    "chromadb",
    "gradio",
    "sentence_transformers",
    "tiktoken",
}
"""What `tools/` never imports (DESIGN.md: pure analytics, useful from a notebook)."""


def _modules() -> dict[str, Path]:
    mods = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return mods


MODULES = _modules()


def _imports(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every import of a file; `from pkg import sub` names `pkg.sub`
    when `sub` is a module, else `pkg`."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [
                f"{node.module}.{a.name}"
                for a in node.names
                if f"{node.module}.{a.name}" in MODULES
            ]
            out += [(s, node.lineno) for s in subs]
            if len(subs) < len(node.names):
                out.append((node.module, node.lineno))
    return out


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for mod, path in MODULES.items():
        edges[mod] = {name for name, _ in _imports(path) if name in MODULES and name != mod}
    return edges


def test_every_module_follows_the_import_table():
    wrong = []
    for mod, path in MODULES.items():
        top = mod.split(".")[0]
        for name, line in _imports(path):
            first = name.split(".")[0]
            if first in FOLDERS and first not in MAY_IMPORT[top]:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {top}/ imports {name}")
            if top == "tools" and first in LLM_VECTOR_UI:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: tools/ imports {name}")
    assert wrong == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    edges = _edges()
    # a package's front door importing its own modules is not a cycle of the modules
    for mod in edges:
        if MODULES[mod].name == "__init__.py":
            edges[mod] = {e for e in edges[mod] if not e.startswith(mod + ".")}
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_hidden_cycle():
    """A function-level import that closes a loop is a cycle: the finder on a made-up graph."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize(
    "package", sorted(m for m, p in MODULES.items() if p.name == "__init__.py" and "." in m)
)
def test_every_subpackage_says_what_it_holds(package):
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text(encoding="utf-8")))
    assert doc and len(doc.split()) >= 20, (
        f"{package}: a one-paragraph docstring says what lives here"
    )


def test_the_playbooks_and_the_scores_speak_one_vocabulary():
    """knowledge/ imports nothing from tools/, so it writes the segment, churn-reason and tier
    names itself: they must be the names the scores carry, in the same order."""
    import knowledge.schema as playbooks
    import tools.schema as vocabulary

    assert playbooks.SEGMENTS == vocabulary.SEGMENTS
    assert playbooks.CHURN_REASONS == vocabulary.CHURN_REASONS
    assert playbooks.CLV_TIERS == vocabulary.CLV_TIERS
    assert set(vocabulary.REASON_LABEL) == set(vocabulary.CHURN_REASONS)
    assert set(vocabulary.CONTACT_CHANNELS) <= set(playbooks.CHANNELS)


MAX_MODULE_LINES = 500


def test_every_module_is_small_enough_to_read():
    """STYLE.md: small modules with clear names, each under 500 lines; a module that grows past
    it is split by responsibility, not allowed to become the next 1,400-line file."""
    long = {
        m: n
        for m, p in MODULES.items()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"split these modules: {long}"


SETTINGS_MADE_IN = {
    "agent.settings",  # the class itself (with_workspace validates one field at a time)
    "agent.assistant.session",  # a session opened without one: a script's or a test's
    "ui.handlers.context",  # the app's one AppContext
}
"""Where a `Settings` object may be made: the programs (the command line, the app, the
evaluations) and the session's default. Everything else is handed the one it runs under."""


def _makes_settings(path: Path) -> list[int]:
    """The lines that call agent.settings.Settings (not another library's `Settings`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    ours = any(
        isinstance(node, ast.ImportFrom) and node.module == "agent.settings"
        for node in ast.walk(tree)
    )
    if not ours:
        return []
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == "Settings")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "Settings")
        )
    ]


def test_one_settings_object_is_passed_in():
    """STYLE.md / issue "one settings object passed in": a module deep in the agent that made
    its own `Settings()` would read the environment behind its caller's back and ignore what
    the merchant saved in the app or gave on the command line (--currency)."""
    made = {
        m: lines
        for m, p in MODULES.items()
        if not m.startswith(("agent.cli", "evals")) and m not in SETTINGS_MADE_IN
        if (lines := _makes_settings(p))
    }
    assert not made, f"take the caller's settings instead of making one here: {made}"
    assert _makes_settings(MODULES["agent.cli.common"]), "the finder finds the command's own"
