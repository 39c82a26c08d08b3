"""Who may decide on a draft: a person's name, and the people registered in a workspace.

`person` says whether a name can be a person's (not "AI assistant", "gpt-4o-mini",
"retention-bot" or a look-alike "\u0430ssistant"); `person_key` is how names are compared.
`People`, a part of the approval queue, keeps the registry (table `people`, `add_person`,
`retention approvals people add NAME`): the first person is registered at first use, when the
caller confirms it (`first_approver=True`), and later ones by a registered person; a name that
is not registered is refused.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.approvals.database import PERSON_ADDED, AuditRow, PersonRow, QueueBase
from agent.approvals.errors import ApprovalError

NOT_A_PERSON = {"", "assistant", "agent", "ai", "bot", "llm", "model", "system", "planner"}
"""Names refused outright (kept for callers); `person` refuses many more."""


_PROGRAM_WORDS = {
    "assistant",
    "assistent",
    "agent",
    "ai",
    "bot",
    "bots",
    "robot",
    "chatbot",
    "llm",
    "llms",
    "model",
    "system",
    "planner",
    "gpt",
    "chatgpt",
    "openai",
    "copilot",
    "autopilot",
    "automation",
    "automated",
    "auto",
    "script",
    "cron",
    "daemon",
    "service",
    "api",
    "webhook",
    "retention",
    "app",
    "cli",
    "machine",
    "computer",
    "program",
    "software",
    "anthropic",
    "gemini",
    "mistral",
    "llama",
    "ollama",
    "vllm",
}
"""Words of a name that say it is a program, not a person (compared after folding case,
accents and look-alike letters)."""
_PROGRAM_PARTS = ("assistant", "chatbot", "chatgpt", "gpt", "openai", "copilot")
"""...also inside a longer word ("AIassistant", "salesgpt")."""
_LOOKALIKE = str.maketrans(
    {
        "\u0430": "a",
        "\u0435": "e",
        "\u043e": "o",
        "\u0440": "p",
        "\u0441": "c",
        "\u0443": "y",
        "\u0445": "x",
        "\u0456": "i",
        "\u0458": "j",
        "\u0455": "s",
        "\u0501": "d",
        "\u04cf": "l",
        "\u0432": "b",
        "\u043a": "k",
        "\u043c": "m",
        "\u043d": "h",
        "\u0442": "t",
        "\u0457": "i",
        "\u0491": "r",
        "\u03b1": "a",
        "\u03bf": "o",
        "\u03b5": "e",
        "\u03b9": "i",
        "\u03ba": "k",
        "\u03bd": "v",
        "\u03c1": "p",
        "\u03c4": "t",
        "\u03c5": "u",
        "\u03c7": "x",
        "\u03b2": "b",
        "\u03b3": "y",
        "\u0261": "g",
        "\u0131": "i",
    }
)
"""Cyrillic and Greek letters that look like Latin ones (lower case, after casefold)."""
_CONFUSABLE_SCRIPTS = {"LATIN", "CYRILLIC", "GREEK"}


def _script(ch: str) -> str:
    return unicodedata.name(ch, "?").split(" ")[0]


def _refuse(name: str, why: str) -> ApprovalError:
    return ApprovalError(
        f"only a person can decide on a draft; actor {name!r} is refused ({why}; "
        "use --by NAME with the name of a person registered in this workspace)"
    )


def person_key(name: str) -> str:
    """How names are compared: NFKC, case folded, single spaces ("maria  " is "Maria")."""
    return " ".join(unicodedata.normalize("NFKC", name or "").casefold().split())


def person(actor: str | None) -> str:
    """The actor (trimmed, NFKC) if it can be a person's name; ApprovalError otherwise: an empty
    name, digits or symbols ("gpt-4o-mini", "o3"), words of programs ("AI assistant",
    "retention-bot", "RetentionBot"), invisible characters, or a word mixing Latin, Cyrillic and
    Greek letters (a look-alike spelling such as a Cyrillic "\u0430ssistant"). This says only that the
    name could be a person's; a decision also needs the name registered (ApprovalQueue)."""
    raw = actor if isinstance(actor, str) else ""
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not name:
        raise _refuse(name, "no name given")
    if len(name) > 80:
        raise _refuse(name[:80], "longer than a name")
    if any(unicodedata.category(ch)[0] == "C" for ch in raw if ch not in " \t"):
        raise _refuse(name, "it holds invisible or control characters")
    if any(ch.isdigit() for ch in name):
        raise _refuse(name, "a person's name has no digits; model and program names do")
    if not any(ch.isalpha() for ch in name) or any(
        not (ch.isalpha() or ch in " .'-\u2019") for ch in name
    ):
        raise _refuse(name, "a person's name is letters, spaces, hyphens, apostrophes and dots")
    for word in re.findall(r"[^\W\d_]+", name):
        scripts = {_script(ch) for ch in word} & _CONFUSABLE_SCRIPTS
        if len(scripts) > 1:
            raise _refuse(
                name,
                f"the word {word!r} mixes {' and '.join(sorted(s.title() for s in scripts))} "
                "letters, as look-alike spellings do",
            )
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)  # RetentionBot -> Retention Bot
    folded = "".join(
        ch
        for ch in unicodedata.normalize("NFKD", spaced.casefold())
        if not unicodedata.combining(ch)
    ).translate(_LOOKALIKE)
    words = re.findall(r"[^\W\d_]+", folded)
    hit = next((w for w in words if w in _PROGRAM_WORDS or w.lower() in NOT_A_PERSON), None)
    hit = hit or next((p for p in _PROGRAM_PARTS if p in "".join(words)), None)
    if hit:
        raise _refuse(name, f"{hit!r} names a program, not a person")
    return name


class People(QueueBase):
    """The approval queue's registry of the people who decide on drafts."""

    def people(self) -> list[PersonRow]:
        """The people registered to decide on drafts, in the order they were added."""
        with self._session() as s, s.begin():
            return list(s.scalars(select(PersonRow).order_by(PersonRow.id)))

    def add_person(self, name: str, *, by: str | None = None) -> tuple[PersonRow, bool]:
        """Register a person who may approve, edit and reject drafts: (row, added). The first
        one is registered by themselves (the caller asked them to confirm); later ones by a
        registered person (`by`). A name already registered is a no-op (added False)."""
        name = person(name)
        with self._session() as s, s.begin():
            known = self._person_row(s, name)
            if known is not None:
                return known, False
            names = list(s.scalars(select(PersonRow.name).order_by(PersonRow.id)))
            if not names:
                adder = name
            elif not (by or "").strip():
                raise ApprovalError(
                    f"a registered person adds people: say who you are with --by NAME "
                    f"(registered: {', '.join(names[:10])})"
                )
            else:
                adder = self._registered(s, by, what="add people")
            return self._insert_person(
                s,
                name,
                adder,
                note="registered"
                if adder != name
                else "registered themselves as the workspace's first approver",
            ), True

    @staticmethod
    def _person_row(s: Session, name: str) -> PersonRow | None:
        return s.scalars(select(PersonRow).where(PersonRow.key == person_key(name))).first()

    @staticmethod
    def _insert_person(s: Session, name: str, adder: str, *, note: str) -> PersonRow:
        row = PersonRow(name=name, key=person_key(name), added_by=adder)
        s.add(row)
        s.flush()
        s.add(
            AuditRow(
                draft_id=None,
                campaign_id=None,
                action=PERSON_ADDED,
                actor=adder,
                after={"name": name},
                note=note,
            )
        )
        return row

    def _registered(
        self, s: Session, actor: str | None, *, what: str = "decide on a draft", first: bool = False
    ) -> str:
        """The registered spelling of `actor`, a person's name (`person`). With nobody registered
        yet and `first` (the caller confirmed it), `actor` is registered as the first approver;
        otherwise an unregistered name is refused."""
        name = person(actor)
        row = self._person_row(s, name)
        if row is not None:
            return row.name
        names = [p.name for p in s.scalars(select(PersonRow).order_by(PersonRow.id))]
        if not names:
            if first:
                return self._insert_person(
                    s, name, name, note="registered at first use, confirmed by them"
                ).name
            raise ApprovalError(
                f"nobody is registered to {what} in this workspace yet; register "
                f"yourself first: retention approvals people add {name!r}"
            )
        shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
        raise ApprovalError(
            f"{name!r} is not registered to {what} in this workspace (registered: {shown}); "
            "a registered person adds people with `retention approvals people add NAME "
            "--by THEIR_NAME`"
        )
