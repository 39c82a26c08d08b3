"""The approval queue's exports: approved drafts claimed once, written, finished after a kill.

`export` writes approved, not yet exported drafts as CSV for Klaviyo or Shopify Email (the rows
and files: agent.approvals.export); `export_again` re-writes an earlier export with the same
drafts. Export claims drafts with UPDATE ... WHERE state = 'approved' AND exported_at IS NULL, so
two sessions exporting the same draft export it once. An export is recorded first (its drafts
claimed, its file name derived from the export id, `completed_at` empty), then its file is
written (atomically, inert in a spreadsheet: tools.csvout) and the record completed with the
audit rows. A kill at any moment leaves no export, or one recorded export that the next export
(or --again) finishes writing at the same path (agent.approvals.recovery): never two files with
the same drafts. Stored paths are relative to the workspace when inside it; `--out` never
overwrites a file or an earlier export, and `--again` never writes outside the workspace unless
`--out` says where. Nothing is sent.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import NamedTuple, cast

import pandas as pd
from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from agent.approvals.database import AuditRow, DraftRow, ExportRow, QueueBase, now_utc
from agent.approvals.errors import ApprovalError
from agent.approvals.recovery import (
    STALE_AFTER_S,
    free_path,
    holds,
    inside,
    sweep_temp,
    writer_id,
    writing,
)


class ExportResult(NamedTuple):
    path: Path | None
    draft_ids: list[int]
    skipped: list[str]
    message: str
    finished: tuple = ()
    """(export id, path, draft ids) of exports a kill had interrupted, finished by this call."""


class Exports(QueueBase):
    """The approval queue's exports (every method is one transaction)."""

    # --- export -----------------------------------------------------------------------------
    def export(
        self,
        customers: pd.DataFrame,
        *,
        exports_dir: Path,
        out: Path | None = None,
        actor: str = "cli",
        campaigns: list[str] | None = None,
        confirmed=None,
    ) -> ExportResult:
        """Write approved, not yet exported drafts as CSV (export.EXPORT_COLUMNS, bodies rendered
        from the customers table). Each draft is claimed by a conditional UPDATE, so it is
        exported once; drafts whose customer has no email or no longer consents stay in the
        queue. The export is recorded before its file is written, and an export a kill
        interrupted is finished first (same file, same drafts). `out`: the file (default
        exports_dir/export_<id>_<time>.csv); never an existing file or an earlier export's.
        `campaigns`: only drafts of these campaigns (those of the store `customers` belongs to);
        `confirmed`: the store's consent confirmations (`consent_confirmations`), for customers
        whose data does not say. Nothing is sent."""
        from agent.approvals.export import exportable

        root = self._root(exports_dir)
        finished, held = self._finish_interrupted(customers, root, campaigns)
        target = Path(out).expanduser().resolve() if out else None
        with self._session() as s, s.begin():
            q = select(DraftRow).where(DraftRow.state == "approved", DraftRow.exported_at.is_(None))
            if campaigns is not None:
                q = q.where(DraftRow.campaign_id.in_(list(campaigns)))
            rows, skipped = exportable(
                list(s.scalars(q.order_by(DraftRow.id))), customers, confirmed=confirmed
            )
            skipped = held + skipped
            if not rows:
                return _finished_only(
                    finished, skipped, "nothing to export: no approved drafts waiting"
                )
            if target is not None:
                self._refuse_overwrite(s, target, root)
            exp = ExportRow(actor=actor, at=now_utc(), writer=writer_id())
            s.add(exp)
            s.flush()
            path = target or free_path(
                Path(exports_dir) / f"export_{exp.id:04d}_{exp.at:%Y%m%d_%H%M%S}.csv"
            )
            now = now_utc()
            claimed = [
                r
                for r in rows
                if cast(
                    CursorResult,
                    s.execute(
                        update(DraftRow)
                        .where(
                            DraftRow.id == r.id,
                            DraftRow.state == "approved",
                            DraftRow.exported_at.is_(None),
                        )
                        .values(exported_at=now, export_id=exp.id, updated_at=now)
                    ),
                ).rowcount
                == 1
            ]
            if not claimed:
                s.delete(exp)
                return _finished_only(
                    finished, skipped, "nothing to export: another session exported them"
                )
            exp.path, exp.draft_ids, exp.completed_at = (
                self._stored(path, root),
                [r.id for r in claimed],
                None,
            )
            export_id, ids = exp.id, list(exp.draft_ids)
        written = self._complete(export_id, customers, root)
        if written is None:
            raise ApprovalError(
                f"export {export_id} was undone by another session; run the export again"
            )
        return ExportResult(
            written,
            ids,
            skipped,
            _finished_note(finished) + f"exported {len(ids)} drafts to {written}; nothing was sent",
            tuple(finished),
        )

    def export_again(
        self,
        which: str | int,
        customers: pd.DataFrame,
        *,
        out: Path | None = None,
        actor: str = "cli",
        campaigns: list[str] | None = None,
        exports_dir: Path | None = None,
    ) -> ExportResult:
        """Re-write an earlier export (by id or path) with the same drafts, recorded as a new
        export pointing at the old one. No draft is added to it. `campaigns`: only drafts of
        these campaigns (those of the store `customers` belongs to) are rendered; the others
        are held back with the reason, and a partial re-export goes to a new file (unless
        `out` says where) so the earlier file keeps every row it had. The file is always in
        the workspace (an export once written outside it is re-written inside, in
        `exports_dir`), unless `out` names a new file."""
        root = self._root(exports_dir)
        exports_dir = Path(exports_dir) if exports_dir is not None else root / "exports"
        finished, held = self._finish_interrupted(customers, root, campaigns)
        target = Path(out).expanduser().resolve() if out else None
        moved = ""
        with self._session() as s, s.begin():
            old = self._find_export(s, which, root)
            rows = [self._row(s, i) for i in old.draft_ids]
            keep = None if campaigns is None else set(campaigns)
            mine = [r for r in rows if keep is None or r.campaign_id in keep]
            skipped = held + [
                f"draft {r.id}: planned on another store (campaign {r.campaign_id}); re-export "
                "it with --store pointing there"
                for r in rows
                if keep is not None and r.campaign_id not in keep
            ]
            if not mine:
                raise ApprovalError(
                    f"export {old.id} holds no drafts of this store (its campaigns: "
                    f"{', '.join(sorted({r.campaign_id for r in rows}))}); give --store "
                    "pointing at the store they were planned on"
                )
            if target is not None:
                self._refuse_overwrite(s, target, root)
            exp = ExportRow(
                actor=actor,
                draft_ids=[r.id for r in mine],
                again_of=old.id,
                at=now_utc(),
                writer=writer_id(),
            )
            s.add(exp)
            s.flush()
            was = self._file(old.path, root)
            if target is not None:
                path = target
            elif not inside(was, root):
                path = free_path(exports_dir / f"{was.stem}_again_{exp.id:04d}.csv")
                moved = (
                    f"export {old.id} was written outside the workspace ({was}); its re-export is "
                    f"inside it instead. "
                )
            elif len(mine) < len(rows):
                path = free_path(was.with_name(f"{was.stem}_again_{exp.id:04d}{was.suffix}"))
            else:
                path = was
            exp.path, exp.completed_at = self._stored(path, root), None
            export_id, ids, old_id = exp.id, list(exp.draft_ids), old.id
        written = self._complete(export_id, customers, root)
        if written is None:
            raise ApprovalError(f"export {export_id} was undone by another session; run it again")
        which_ = f"the {len(rows)}" if len(mine) == len(rows) else f"{len(mine)} of the {len(rows)}"
        return ExportResult(
            written,
            ids,
            skipped,
            _finished_note(finished)
            + moved
            + f"re-exported {which_} drafts of export {old_id} to {written}; nothing was sent",
            tuple(finished),
        )

    def exports(self) -> list[ExportRow]:
        """Every export, oldest first (re-exports point at theirs with again_of)."""
        with self._session() as s, s.begin():
            return list(s.scalars(select(ExportRow).order_by(ExportRow.id)))

    def export_file(self, export: ExportRow, exports_dir: Path | None = None) -> Path:
        """Where an export's file is: its stored path resolved in the workspace."""
        return self._file(export.path, self._root(exports_dir))

    # the export's parts -------------------------------------------------------------------------
    def _root(self, exports_dir: Path | None = None) -> Path:
        """The workspace stored paths are relative to (never the current folder)."""
        if self.workspace is not None:
            return self.workspace
        if exports_dir is not None:
            return Path(exports_dir).expanduser().resolve().parent
        raise ApprovalError(
            "no workspace for the export: open the queue with open_queue(WORKSPACE)"
        )

    @staticmethod
    def _stored(path: Path, root: Path) -> str:
        """A path as recorded: relative to the workspace when inside it, else absolute."""
        p = Path(path).expanduser().resolve()
        return p.relative_to(root).as_posix() if inside(p, root) else str(p)

    @staticmethod
    def _file(stored: str, root: Path) -> Path:
        """A recorded path resolved in the workspace. An earlier version recorded paths as
        given (relative to the folder it ran in): such a file is looked for in exports/."""
        p = Path(stored)
        if p.is_absolute():
            return p
        here = (root / p).resolve()
        legacy = root / "exports" / p.name
        return legacy if not here.exists() and legacy.exists() else here

    def _refuse_overwrite(self, s: Session, target: Path, root: Path) -> None:
        leave = "give a new file name, or leave out --out for a new file in the workspace's exports folder"
        for e in s.scalars(select(ExportRow).order_by(ExportRow.id)):
            if self._file(e.path, root) == target:
                raise ApprovalError(
                    f"{target} is the file of export {e.id}: --out never overwrites an earlier "
                    f"export; {leave}"
                )
        if target.exists():
            raise ApprovalError(f"{target} already exists: --out never overwrites a file; {leave}")

    def _find_export(self, s: Session, which: str | int, root: Path) -> ExportRow:
        if str(which).strip().isdigit():
            old = s.get(ExportRow, int(str(which).strip()))
            if old is not None and old.again_of is not None:  # a re-export: the export it re-wrote
                old = s.get(ExportRow, old.again_of)
        else:
            want = Path(str(which)).expanduser()
            places = (
                {want.resolve(), (root / want).resolve()}
                if not want.is_absolute()
                else {want.resolve()}
            )
            old = next(
                (
                    e
                    for e in s.scalars(
                        select(ExportRow).where(ExportRow.again_of.is_(None)).order_by(ExportRow.id)
                    )
                    if e.path == str(which) or self._file(e.path, root) in places
                ),
                None,
            )
        if old is None:
            raise ApprovalError(f"no export {which!r}; see the exports folder")
        if old.completed_at is None:
            raise ApprovalError(
                f"export {old.id} was interrupted before its file was written; run the export "
                "with --store pointing at its store to finish it first"
            )
        return old

    def _finish_interrupted(
        self, customers: pd.DataFrame, root: Path, campaigns: list[str] | None
    ) -> tuple[list[tuple], list[str]]:
        """Finish the exports recorded without their file (a kill between the record and the
        file, or between the file and its completion): each is written at its recorded path
        with its recorded drafts. Those of another store's campaigns are left, with a note.
        Returns ([(export id, path, draft ids)], notes)."""
        with self._session() as s, s.begin():
            pending = list(
                s.scalars(
                    select(ExportRow).where(ExportRow.completed_at.is_(None)).order_by(ExportRow.id)
                )
            )
            camps = {
                e.id: set(
                    s.scalars(
                        select(DraftRow.campaign_id).where(DraftRow.id.in_(e.draft_ids or [-1]))
                    )
                )
                for e in pending
            }
        done, held = [], []
        for e in pending:
            busy = writing(e.writer)
            if busy is None and e.at is not None:  # written on another machine: after a while
                at = e.at if e.at.tzinfo else e.at.replace(tzinfo=UTC)
                busy = (now_utc() - at).total_seconds() < STALE_AFTER_S
            if busy:
                continue  # another session is writing it right now
            if campaigns is not None and not camps[e.id] <= set(campaigns):
                held.append(
                    f"export {e.id} was interrupted before its file was written; finish it with "
                    f"--store pointing at the store of its campaigns ({', '.join(sorted(camps[e.id]))})"
                )
                continue
            path = self._complete(e.id, customers, root)
            if path is not None:
                done.append((e.id, path, list(e.draft_ids)))
        return done, held

    def _complete(self, export_id: int, customers: pd.DataFrame, root: Path) -> Path | None:
        """Write a recorded export's file (atomic, inert CSV) and mark it complete, with the
        drafts' `exported` audit rows. Idempotent: a second writer writes the same file. A
        write that fails leaves no file, and the export is undone (its drafts wait again).
        None when the export is gone (undone by another session)."""
        from agent.approvals.export import export_table, write_export

        with self._session() as s, s.begin():
            exp = s.get(ExportRow, export_id)
            if exp is None:
                return None
            path = self._file(exp.path, root)
            if exp.completed_at is not None:
                return path
            rows = [self._row(s, i) for i in exp.draft_ids]
            stored, exp_actor, again = exp.path, exp.actor, exp.again_of
        if path.exists() and again is None and not holds(path, exp.draft_ids):
            raise ApprovalError(
                f"export {export_id} was interrupted, and {path} now holds another file: "
                "not overwritten; move that file away and export again"
            )
        try:
            write_export(
                export_table(rows, customers), path, customers
            )  # + its Klaviyo, Shopify files
        except Exception:
            if not path.exists():
                self._undo(export_id)
            raise
        with self._session() as s, s.begin():
            done = cast(
                CursorResult,
                s.execute(
                    update(ExportRow)
                    .where(ExportRow.id == export_id, ExportRow.completed_at.is_(None))
                    .values(completed_at=now_utc())
                ),
            )
            if done.rowcount != 1:
                if (
                    s.get(ExportRow, export_id) is None
                ):  # undone meanwhile: no file for queued drafts
                    path.unlink(missing_ok=True)
                    return None
            elif again is None:
                s.add_all(
                    [
                        AuditRow(
                            draft_id=r.id,
                            campaign_id=r.campaign_id,
                            action="exported",
                            actor=exp_actor,
                            after={"export_id": export_id, "path": stored},
                        )
                        for r in rows
                    ]
                )
        sweep_temp(path)
        return path

    def _undo(self, export_id: int) -> None:
        """Forget an unfinished export whose file could not be written: its drafts wait again."""
        with self._session() as s, s.begin():
            exp = s.get(ExportRow, export_id)
            if exp is None or exp.completed_at is not None:
                return
            if exp.again_of is None:
                s.execute(
                    update(DraftRow)
                    .where(DraftRow.export_id == export_id)
                    .values(exported_at=None, export_id=None)
                )
            s.execute(
                delete(ExportRow).where(ExportRow.id == export_id, ExportRow.completed_at.is_(None))
            )


def _finished_note(finished: list[tuple]) -> str:
    return "".join(
        f"finished export {i}, interrupted earlier: {len(ids)} drafts in {p}. "
        for i, p, ids in finished
    )


def _finished_only(finished: list[tuple], skipped: list[str], nothing: str) -> ExportResult:
    if not finished:
        return ExportResult(None, [], skipped, nothing)
    i, p, ids = finished[-1]
    return ExportResult(
        p,
        ids,
        skipped,
        _finished_note(finished) + "No other approved drafts were waiting; nothing was sent",
        tuple(finished),
    )
