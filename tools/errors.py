"""The error root, and bad store data a shop owner can act on.

Every error written for the merchant derives from `RetentionError`: the command line prints it
as one line and the app shows it as it is; anything else is a bug (a traceback in the log).

A `DataError` names the file, the column, how many rows are affected and one example row.
The CLI prints `str(err)` as a single line on stderr; nothing else is needed to explain it.
"""

from __future__ import annotations


class RetentionError(Exception):
    """A problem the merchant can act on; `str(err)` says what it is and what to do (one line)."""


class DataError(RetentionError, ValueError):
    """A store file cannot be used as it is.

    Attributes mirror the message so a UI can lay them out: `file`, `column`, `bad_rows`,
    `example` (a short repr of one offending row) and `hint` (what to do about it).
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        column: str | None = None,
        bad_rows: int | None = None,
        example: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = file
        self.column = column
        self.bad_rows = bad_rows
        self.example = example
        self.hint = hint
        super().__init__(self._render())

    def __reduce__(self):  # every field survives a trip to another process (parallel loads)
        return _rebuild, (
            self.problem,
            {k: getattr(self, k) for k in ("file", "column", "bad_rows", "example", "hint")},
        )

    def _render(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.column:
            parts.append(f"column '{self.column}'")
        head = ", ".join(parts)
        msg = f"{head}: {self.problem}" if head else self.problem
        if self.bad_rows is not None:
            msg += f" ({self.bad_rows} row{'s' if self.bad_rows != 1 else ''})"
        if self.example:
            msg += f"; e.g. {self.example}"
        if self.hint:
            msg += f". {self.hint}"
        return msg.replace("\n", " ")


def _rebuild(problem: str, fields: dict) -> DataError:
    return DataError(problem, **fields)
