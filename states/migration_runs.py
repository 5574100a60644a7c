"""Migration runs: the record of who planned or moved which cases, and the loop that moves them.

A run moves its cases one command (one transaction) each, so fires go on between them and a run
stopped half-way is finished by running it again: a moved case is skipped (already on the target
version), a case fired since the plan is planned again in its own transaction.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import Connection, Engine as DbEngine, bindparam, insert, select, update

from . import tables as T
from .access import Principal
from .commands import FinishMigration, MigrateCase, PlanMigration, StartMigration
from .errors import RuleViolation
from .migration import Selection, SelectionPlan, describe

M = T.migrations
SHOWN_CASES = 2000  # cases a stored dry run lists (the counts cover all of them)


def _selection_row(plan_or_selection: Selection, registry) -> dict[str, Any]:
    s = plan_or_selection
    migration = registry.migration(s.algorithm, s.to_version - 1, s.to_version)
    return {"algorithm": s.algorithm, "from_version": s.to_version - 1, "to_version": s.to_version,
            "migration_hash": migration.content_hash if migration else "", "region": s.region, "state": s.state}


def record_plan(db: DbEngine, plan: SelectionPlan, caller: Principal, now: datetime) -> int:
    """Keep a dry run: its counts and (up to SHOWN_CASES) its cases."""
    s = plan.selection
    cases = [describe(p) for p, _ in plan.plans]
    report = {"counts": plan.counts(), "cases": cases[:SHOWN_CASES], "cases_total": len(cases)}
    with db.begin() as conn:
        return conn.execute(insert(M).values(
            algorithm=s.algorithm, from_version=s.to_version - 1, to_version=s.to_version,
            migration_hash=plan.migration.content_hash if plan.migration else "", region=s.region, state=s.state,
            dry_run=True, actor=caller.body_id, person=caller.person_id, role=caller.role, status="planned",
            created_at=now, finished_at=now,
            total=len(plan.plans), moved=0, skipped=0, failed=0, not_migratable=len(plan.unmovable),
            report=report)).inserted_primary_key[0]


def open_run(db: DbEngine, registry, selection: Selection, caller: Principal, total: int, now: datetime) -> int:
    with db.begin() as conn:
        return conn.execute(insert(M).values(
            **_selection_row(selection, registry), dry_run=False, actor=caller.body_id, person=caller.person_id,
            role=caller.role,
            status="running", created_at=now, total=total, moved=0, skipped=0, failed=0, not_migratable=0,
            report=None)).inserted_primary_key[0]


_MOVED = update(M).where(M.c.id == bindparam("run")).values(moved=M.c.moved + 1)
_SKIPPED = update(M).where(M.c.id == bindparam("run")).values(skipped=M.c.skipped + 1)


def count_moved(conn: Connection, run_id: int, moved: bool) -> None:
    """Count one case on its run, in the case's own transaction."""
    if conn.execute(_MOVED if moved else _SKIPPED, {"run": run_id}).rowcount != 1:
        raise RuleViolation("invalid_data", f"no migration run {run_id}", field="run_id")


def finish_run(db: DbEngine, run_id: int, report: dict[str, Any], failed: bool, now: datetime) -> dict:
    with db.begin() as conn:
        found = conn.execute(update(M).where(M.c.id == run_id, M.c.status == "running").values(
            status="failed" if failed else "done", finished_at=now, report=report,
            failed=len(report.get("failed", [])), not_migratable=len(report.get("not_migratable", []))))
        if found.rowcount != 1:
            raise RuleViolation("invalid_data", f"no running migration run {run_id}", field="run_id")
    return report


def run_row(conn: Connection, run_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(M).where(M.c.id == run_id)).first()
    return dict(row._mapping) if row else None


def list_runs(conn: Connection, limit: int = 200) -> list[dict[str, Any]]:
    """The latest runs and dry runs, newest first (the auditors' list), without their reports."""
    cols = [c for c in M.c if c.name != "report"]
    return [dict(r._mapping) for r in conn.execute(select(*cols).order_by(M.c.id.desc()).limit(limit))]


@dataclass
class RunOutcome:
    run_id: int | None
    total: int = 0
    moved: int = 0
    skipped: int = 0
    replanned: int = 0
    not_migratable: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {"moved": self.moved, "skipped": self.skipped, "replanned": self.replanned,
                "not_migratable": self.not_migratable, "failed": self.failed}


def run_migration(send: Callable[[Any], Any], selection: Selection,
                  progress: Callable[[int, int], None] | None = None,
                  started: Callable[[int], None] | None = None) -> RunOutcome:
    """Plan the selection, then move each migratable case with its own command. `send(command)`
    hands a command to the handler as the caller (directly, or through the web process's store)."""
    s = selection
    _, plan = send(PlanMigration(s.algorithm, s.to_version, s.region, s.state))
    if not plan.plans:
        return RunOutcome(None)  # nothing to move: nothing written, not even a run
    run_id = send(StartMigration(s.algorithm, s.to_version, s.region, s.state, total=len(plan.plans)))
    out = RunOutcome(run_id, total=len(plan.plans))
    crashed = True
    try:
        if started:
            started(run_id)
        for i, (case_plan, version) in enumerate(plan.plans, start=1):
            if not case_plan.migratable:
                out.not_migratable.append({"ref": case_plan.ref, "reason": case_plan.reason})
            else:
                _move(send, s, run_id, case_plan.ref, version, out)
            if progress:
                progress(i, out.total)
        crashed = False
    finally:
        send(FinishMigration(run_id, out.report(), failed=crashed))
    return out


def _move(send, s: Selection, run_id: int, ref: str, version: int, out: RunOutcome) -> None:
    for attempt in range(3):  # a fire between our read and our write: plan it again
        try:
            moved = send(MigrateCase(ref, s.algorithm, s.to_version, run_id, expected_version=version))
        except RuleViolation as exc:
            if exc.code == "conflict" and attempt < 2:
                continue
            target = out.not_migratable if exc.code == "not_migratable" else out.failed
            target.append({"ref": ref, "reason": f"{exc.code}: {exc.message}"})
            return
        if moved.moved:
            out.moved += 1
            out.replanned += moved.replanned
        else:
            out.skipped += 1
        return

