"""Moving running cases to version 2 (../shared/spec/migration.md): the migration files, one
`migrated` event per case, a second apply that writes nothing, replay and verify across the move, a
forged migration caught, a case fired between plan and apply planned again, who may migrate."""
from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from algorithms.loader import ALGORITHMS_DIR
from algorithms.migration import MigrationFileError, load_migration
from algorithms.registry import Registry
from states import tables as T
from states.access import OPERATOR, Principal, operator
from states.commands import Fire, Launch, MigrateCase, PlanMigration
from states.errors import RuleViolation
from states.handling import Handler
from states.history import GENESIS, event_document, event_hash
from states.migration import Selection
from states.migration_runs import run_migration
from states.queries import replay_at
from states.verify import verify_all, verify_case

from conftest import kz

T0 = kz(2026, 4, 6, 10)  # Monday
BULLYING = {"form": "bullying", "channel": "school", "summary": "repeated name-calling in class 5B"}
ASSESS = {"immediate_danger": False, "perpetrator": "peer"}
VR = Selection("violence-report", 2)


def _v1_cases(engine, n: int, *, region: str = "KZ-75") -> list[str]:
    """`n` running version-1 bullying cases: two in three awaiting the bullying decision."""
    handler, school = Handler(engine), operator(engine.svc.directory.get("kz-75.school-1"))
    refs = []
    for i in range(n):
        ref = handler.handle(Launch("violence-report", region, BULLYING, version=1), school, now=T0).ref
        if i % 3 != 2:
            handler.handle(Fire(ref, "assess", ASSESS), school, now=T0 + timedelta(hours=1))
        refs.append(ref)
    return refs


def _apply(engine, selection: Selection = VR, *, now=None, send=None):
    handler = Handler(engine)
    at = now or T0 + timedelta(hours=2)
    return run_migration(send or (lambda command: handler.handle(command, OPERATOR, now=at)), selection)


def _counts(engine) -> tuple[int, int, int]:
    with engine.reader() as conn:
        return (conn.execute(select(func.count()).select_from(T.events)).scalar(),
                conn.execute(select(func.count()).select_from(T.migrations)).scalar(),
                conn.execute(select(func.count()).select_from(T.outbox)).scalar())


def _events(engine, ref: str):
    with engine.reader() as conn:
        case_id = conn.execute(select(T.cases.c.id).where(T.cases.c.ref == ref)).scalar()
        return conn.execute(select(T.events).where(T.events.c.case_id == case_id).order_by(T.events.c.seq)).all()


# ------------------------------------------------------------------------------ the migration files

def test_every_algorithm_publishes_its_1_to_2_migration(registry) -> None:
    for algorithm in ("violence-report", "suicide-response", "social-patronage", "plan-reporting"):
        migration = registry.migration(algorithm, 1, 2)
        assert migration is not None, algorithm
        assert migration.note_text
    vr = registry.migration("violence-report", 1, 2)
    assert vr.state_after("appeal_review") == "appeal_higher"
    assert vr.kind_after("review_appeal") == "review_appeal_higher"
    assert vr.data == {"reporter": "other", "detected_at": "launch"}


@pytest.mark.parametrize("text, rule", [
    ("states: {no_such_state: reported}\n", "state 'no_such_state' does not exist in violence-report v1"),
    ("states: {appeal_review: nowhere}\n", "state 'nowhere' does not exist in violence-report v2"),
    ("tasks: {decide_bullying: decide_everything}\n", "task kind 'decide_everything' does not exist"),
    ("data: {reporter: neighbour}\n", "'neighbour' is not one of"),
    ("data: {detected_at: yesterday}\n", "a date-time default is `launch`"),
    ("data: {favourite_colour: blue}\n", "has no launch field 'favourite_colour'"),
    ("mapping: {}\n", "unknown key 'mapping'"),
])
def test_a_broken_migration_file_is_refused_with_its_line(tmp_path: Path, registry, text: str, rule: str) -> None:
    path = tmp_path / "violence-report.1-2.yaml"
    path.write_text("note: test\n" + text, encoding="utf-8")
    with pytest.raises(MigrationFileError) as info:
        load_migration(path, registry.get("violence-report", 1), registry.get("violence-report", 2))
    assert f"{path}:2: " in str(info.value) and rule in str(info.value)


# ------------------------------------------------------------------------------ moving a store

def test_twenty_running_cases_move_once_and_verify(engine) -> None:
    refs = _v1_cases(engine, 20)
    out = _apply(engine)
    assert (out.total, out.moved, out.failed, out.not_migratable) == (20, 20, [], [])
    for ref in refs:
        migrated = [e for e in _events(engine, ref) if e.trigger == "migrated"]
        assert len(migrated) == 1, ref
        assert migrated[0].data["from_version"] == 1 and migrated[0].data["to_version"] == 2
        case = engine.case(ref)
        assert case.algorithm_version == 2
        assert case.definition_hash == engine.registry.get("violence-report", 2).content_hash
        assert case.data["reporter"] == "other" and case.data["detected_at"].startswith("2026-04-06T05:00:00")
    before = _counts(engine)
    again = _apply(engine, now=T0 + timedelta(hours=3))
    assert again.run_id is None and again.total == 0
    assert _counts(engine) == before  # the second apply wrote nothing at all
    with engine.reader() as conn:
        report = verify_all(conn, engine.registry)
    assert report.ok, [f.problems for f in report.failures]
    assert report.cases == 20


def test_the_bullying_decision_moves_to_the_school_and_keeps_its_due(engine) -> None:
    ref = _v1_cases(engine, 1)[0]
    before = {t.kind: t for t in _open_tasks(engine, ref)}
    assert before["decide_bullying"].body_id == "kz-75.education_department"
    _apply(engine)
    after = {t.kind: t for t in _open_tasks(engine, ref)}
    assert after["decide_bullying"].body_id == "kz-75.school-1"
    assert after["decide_bullying"].due == before["decide_bullying"].due
    assert after["police_check"].body_id == before["police_check"].body_id == "kz-75.police"
    with engine.reader() as conn:
        notes = conn.execute(select(T.outbox.c.template, T.outbox.c.body_id).join(
            T.events, (T.events.c.case_id == T.outbox.c.case_id) & (T.events.c.seq == T.outbox.c.event_seq))
            .where(T.events.c.trigger == "migrated")).all()
    assert notes == [("task_assigned", "kz-75.school-1")]  # nothing to the police, whose task merely stays
    # The school decides now; the department may no longer take the decision (version 2, C2).
    handler = Handler(engine)
    with pytest.raises(RuleViolation) as info:
        handler.handle(Fire(ref, "bullying_recognised", {}), operator(engine.svc.directory.get("kz-75.education_department")),
                       now=T0 + timedelta(hours=4))
    assert info.value.code == "forbidden"
    handler.handle(Fire(ref, "bullying_recognised", {}), operator(engine.svc.directory.get("kz-75.school-1")),
                   now=T0 + timedelta(hours=4))
    with engine.reader() as conn:
        assert verify_case(conn, ref, engine.registry).ok


def _open_tasks(engine, ref: str):
    case = engine.case(ref)
    with engine.reader() as conn:
        return conn.execute(select(T.tasks).where(T.tasks.c.case_id == case.id, T.tasks.c.status == "open")).all()


def test_replay_before_the_move_shows_version_1(engine) -> None:
    ref = _v1_cases(engine, 1)[0]
    _apply(engine)
    with engine.reader() as conn:
        before = replay_at(conn, ref, T0 + timedelta(hours=1, minutes=30))
        after = replay_at(conn, ref, T0 + timedelta(hours=2))
    decide = lambda view: next(t for t in view["open_tasks"] if t["kind"] == "decide_bullying")  # noqa: E731
    assert before["algorithm_version"] == 1 and decide(before)["body_id"] == "kz-75.education_department"
    assert after["algorithm_version"] == 2 and decide(after)["body_id"] == "kz-75.school-1"
    assert decide(before)["due"] == decide(after)["due"]


# ------------------------------------------------------------------------------ verification

def _rewrite_chain(engine, ref: str, edit) -> None:
    """An attacker with write access: edit the stored events with `edit(seq, row_dict)`, then re-hash
    the whole chain and the case's head so that the hashes alone no longer show the edit."""
    case = engine.case(ref)
    rows = _events(engine, ref)
    with engine.db.begin() as conn:
        prev = GENESIS
        pins = {}
        for r in rows:
            m = dict(r._mapping)
            edit(m["seq"], m)
            pins[m["seq"]] = m
        for r in rows:
            m = pins[r.seq]
            definition = (case.definition_hash if m["seq"] >= max(x.seq for x in rows if x.trigger == "migrated")
                          else m["effects"].get("migrated_from", {}).get("definition")
                          or _from_definition(rows))
            doc = event_document(m, case.ref, case.algorithm, definition)
            digest = event_hash(prev, doc)
            conn.execute(update(T.events).where(T.events.c.id == m["id"]).values(
                effects=m["effects"], prev_hash=prev, hash=digest))
            prev = digest
        conn.execute(update(T.cases).where(T.cases.c.id == case.id).values(head_hash=prev))


def _from_definition(rows) -> str:
    return next(r.effects["migrated_from"]["definition"] for r in rows if r.trigger == "migrated")


def test_a_forged_migration_is_caught_though_the_chain_was_rehashed(engine) -> None:
    ref = _v1_cases(engine, 1)[0]
    _apply(engine)
    with engine.reader() as conn:
        assert verify_case(conn, ref, engine.registry).ok

    def forge(seq, m):  # the decision "stays" with the department, and the task row is rolled back too
        if m["trigger"] == "migrated":
            effects = json.loads(json.dumps(m["effects"]))
            moved = effects.pop("tasks_moved")
            effects["tasks_kept"] = effects.get("tasks_kept", []) + [
                {"key": t["key"], "kind": t["kind"], "body": t["from_body"], "due": t["due"]} for t in moved]
            effects.pop("notifications", None)
            m["effects"] = effects

    _rewrite_chain(engine, ref, forge)
    case = engine.case(ref)
    with engine.db.begin() as conn:
        conn.execute(update(T.tasks).where(T.tasks.c.case_id == case.id, T.tasks.c.kind == "decide_bullying")
                     .values(body_id="kz-75.education_department"))
    with engine.reader() as conn:
        result = verify_case(conn, ref, engine.registry)
        everything = verify_all(conn, engine.registry)
    assert not result.ok
    migrated_seq = next(e.seq for e in _events(engine, ref) if e.trigger == "migrated")
    assert result.first_bad_seq == migrated_seq
    assert any("not what the migration file gives" in p for p in result.problems), result.problems
    assert [f.ref for f in everything.failures] == [ref]


def test_an_edited_migration_event_breaks_the_chain(engine) -> None:
    ref = _v1_cases(engine, 1)[0]
    _apply(engine)
    case = engine.case(ref)
    with engine.db.begin() as conn:
        conn.execute(update(T.events).where(T.events.c.case_id == case.id, T.events.c.trigger == "migrated")
                     .values(data={"from_version": 1, "to_version": 2, "migration_hash": "0" * 64, "note": "x"}))
    with engine.reader() as conn:
        result = verify_case(conn, ref, engine.registry)
    assert not result.ok and any("hash does not match" in p for p in result.problems)


# ------------------------------------------------------------------------------ concurrency

def test_a_case_fired_between_plan_and_apply_is_planned_again(engine) -> None:
    refs = _v1_cases(engine, 3)
    target = refs[0]
    handler = Handler(engine)
    department = operator(engine.svc.directory.get("kz-75.education_department"))
    at = T0 + timedelta(hours=2)
    fired = []

    def send(command):
        if isinstance(command, MigrateCase) and command.ref == target and not fired:
            # Between the plan (bullying_review) and this case's transaction, v1's department decides.
            handler.handle(Fire(target, "bullying_recognised", {}), department, now=at)
            fired.append(True)
        return handler.handle(command, OPERATOR, now=at)

    out = _apply(engine, send=send)
    assert out.moved == 3 and out.replanned == 1
    migrated = next(e for e in _events(engine, target) if e.trigger == "migrated")
    assert migrated.from_state == "support_plan"  # planned from the case as it was, not overwritten
    assert "decide_bullying" not in json.dumps(migrated.effects)
    with engine.reader() as conn:
        assert verify_all(conn, engine.registry).ok


# ------------------------------------------------------------------------------ not migratable

def test_a_report_for_a_period_outside_the_plan_is_not_migratable(engine) -> None:
    handler = Handler(engine)
    ministry = operator(engine.svc.directory.get("ministry_education"))
    ref = handler.handle(Launch("plan-reporting", "KZ-71", {"period": "2026-Q1", "executor": "ministry_education"},
                                version=1), ministry, now=kz(2026, 4, 1, 10)).ref
    _, plan = handler.handle(PlanMigration("plan-reporting", 2), OPERATOR, now=kz(2026, 4, 2, 10))
    (case_plan, _), = plan.plans
    assert not case_plan.migratable and "period" in case_plan.reason and "outside the plan" in case_plan.reason
    before = _counts(engine)
    with pytest.raises(RuleViolation) as info:
        handler.handle(MigrateCase(ref, "plan-reporting", 2), OPERATOR, now=kz(2026, 4, 2, 10))
    assert info.value.code == "not_migratable"
    assert _counts(engine) == before and engine.case(ref).algorithm_version == 1
    out = _apply(engine, Selection("plan-reporting", 2), now=kz(2026, 4, 2, 10))
    assert out.moved == 0 and [c["ref"] for c in out.not_migratable] == [ref]


def test_a_state_mapped_to_none_makes_its_cases_not_migratable(tmp_path: Path, db_factory) -> None:
    """A deployment's migration file may say a state has no counterpart: its cases stay where they are."""
    shipped = tmp_path / "defs"
    shipped.mkdir()
    for path in ALGORITHMS_DIR.glob("*.yaml"):
        if path.name != "violence-report.1-2.yaml":
            shutil.copy(path, shipped / path.name)
    (shipped / "violence-report.1-2.yaml").write_text(
        "states: {bullying_review: null}\nnote: the department finishes its decisions under version 1\n"
        "data: {reporter: other, detected_at: launch}\n", encoding="utf-8")
    registry = Registry.load([shipped], include_shipped=False)
    engine = db_factory(registry=registry)
    refs = _v1_cases(engine, 3)  # two in bullying_review, one still reported
    out = _apply(engine)
    assert out.moved == 1 and sorted(c["ref"] for c in out.not_migratable) == sorted(refs[:2])
    assert all("'bullying_review' has no counterpart" in c["reason"] for c in out.not_migratable)
    assert [engine.case(r).algorithm_version for r in refs] == [1, 1, 2]


# ------------------------------------------------------------------------------ who may

@pytest.mark.parametrize("role, body", [("agency", "kz-75.school-1"), ("coordinator", "kz-75.akimat"),
                                        ("auditor", "ministry_education")])
def test_only_an_admin_or_a_ministry_coordinator_migrates(engine, role: str, body: str) -> None:
    ref = _v1_cases(engine, 1)[0]
    caller = Principal(token_id=1, prefix="x", role=role, body=engine.svc.directory.get(body))
    handler = Handler(engine)
    for command in (PlanMigration("violence-report", 2), MigrateCase(ref, "violence-report", 2)):
        with pytest.raises(RuleViolation) as info:
            handler.handle(command, caller, now=T0 + timedelta(hours=2))
        assert info.value.code == "forbidden"
    ministry = Principal(token_id=2, prefix="y", role="coordinator", body=engine.svc.directory.get("ministry_education"))
    moved = handler.handle(MigrateCase(ref, "violence-report", 2), ministry, now=T0 + timedelta(hours=2))
    assert moved.moved
    assert _events(engine, ref)[-1].actor == "ministry_education"


@pytest.mark.parametrize("command, field", [
    (PlanMigration("no-such-algorithm", 2), "algorithm"),
    (PlanMigration("violence-report", 9), "to_version"),
    (PlanMigration("violence-report", 1), "to_version"),  # nothing migrates into the first version
    (PlanMigration("violence-report", 2, region="KZ-00"), "region"),
    (PlanMigration("violence-report", 2, state="nowhere"), "state"),
])
def test_a_meaningless_selection_is_invalid_data_naming_the_field(engine, command, field: str) -> None:
    with pytest.raises(RuleViolation) as info:
        Handler(engine).handle(command, OPERATOR, now=T0)
    assert (info.value.code, info.value.field) == ("invalid_data", field)


def test_the_school_is_told_of_its_new_task_in_its_language(engine) -> None:
    from notifications.context import build_context
    from notifications.render import render_for_body

    ref = _v1_cases(engine, 1)[0]
    _apply(engine)
    with engine.reader() as conn:
        row = conn.execute(select(T.outbox).where(T.outbox.c.body_id == "kz-75.school-1",
                                                  T.outbox.c.template == "task_assigned")
                           .order_by(T.outbox.c.id.desc())).first()
    assert row.context["task"]["body"] == "kz-75.school-1" and row.context["version"] == 2
    context = build_context(row.context, "task_assigned", row.body_id, registry=engine.registry,
                            directory=engine.svc.directory, now=T0 + timedelta(hours=2))
    school = engine.svc.directory.get("kz-75.school-1")
    message = render_for_body("task_assigned", school.language, context)
    title = engine.registry.get("violence-report", 2).task_title("decide_bullying")
    assert ref in message.subject
    for language in (message.language.split("+")):
        assert title[language] in message.body
    assert "09.04.2026 18:00" in message.body  # the due it kept
