"""The compliance report: on-time and late counts, delays, overdue tasks and escalation levels per body and
task kind, from histories built with the engine and the sweep (SQLite, and PostgreSQL when configured)."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta

import pytest
import typer
from typer.testing import CliRunner

from app.compliance_text import late_table, summary_text, to_table
from app.report_cli import report_app
from sqlalchemy import select

from states import tables as T
from states.compliance import (ComplianceRow, VersionRow, compliance_report, compliance_summary, export,
                               late_reports, late_to_csv, region_totals, to_csv, to_json)
from states.store import open_engine
from states.sweep import next_due, sweep

from conftest import kz

LAUNCH = kz(2026, 4, 6, 10)  # Monday 6 April 2026, no holidays that week or the next
APRIL = (kz(2026, 4, 1), kz(2026, 5, 1))
NOW = kz(2026, 4, 20, 12)
BULLYING = {"form": "bullying", "channel": "school", "summary": "repeated name-calling in class 5B"}
PHYSICAL = {"form": "physical", "channel": "health", "summary": "bruises noticed at a check-up"}
NO_DANGER_PEER = {"immediate_danger": False, "perpetrator": "peer"}
NO_DANGER_FAMILY = {"immediate_danger": False, "perpetrator": "family"}


def run_until(engine, until: datetime) -> None:
    """Take every ladder step at its due moment up to `until`, as a sweep running every minute would."""
    while (due := next_due(engine)) is not None and due <= until:
        sweep(engine, now=due)


def build_history(engine) -> dict[str, str]:
    """Synthetic Almaty (KZ-75) and Astana (KZ-71) cases, all launched on Monday 6 April 10:00.

    Deadlines (see the spec): collect_information (school) Tue 7 Apr 18:00; police_check (police) Tue 7 Apr
    10:00; medical_examination (health, urgent ladder) Tue 7 Apr 10:00.
    A  bullying, everything on time; the department decides on time (decide_bullying due Thu 9 Apr 18:00).
    B  bullying: police 3 h late, school 16 h late; family_assessment (due Mon 13 Apr 18:00) left open:
       overdue, escalated (ensure_completion for the akimat, due Wed 15 Apr 18:00, left open), critical.
    C  physical, at school-1: health examines 23 h late after overdue, escalation (ensure_completion for
       ministry_health due Tue 7 Apr 14:00, done with it, 19 h late) and critical; school and police never
       act: overdue, escalated (ensure_completion for the department and ministry_interior), critical.
    D  bullying, withdrawn the same day: both tasks cancelled.
    G  bullying at school-2: school 2 h late, police 24 h late; decide_bullying (due Fri 10 Apr 18:00)
       decided 64 h late, on Monday 13 Apr 10:00, before its escalation.
    F  Astana: police on time, the school never acts.
    """
    d = engine.svc.directory
    school1, school2 = d.schools("KZ-75")[0].id, d.schools("KZ-75")[1].id
    refs = {}
    for name, data in (("A", BULLYING), ("B", BULLYING), ("C", PHYSICAL), ("D", BULLYING),
                       ("G", {**BULLYING, "school": school2})):
        refs[name] = engine.launch("violence-report", "KZ-75", school1, data, now=LAUNCH, version=1).ref
    refs["F"] = engine.launch("violence-report", "KZ-71", d.schools("KZ-71")[0].id, BULLYING, now=LAUNCH,
                              version=1).ref

    actions = [
        (kz(2026, 4, 6, 12), "A", "assess", school1, NO_DANGER_PEER),
        (kz(2026, 4, 6, 15), "D", "withdraw", "kz-75.education_department", {"reason": "duplicate report"}),
        (kz(2026, 4, 6, 16), "F", "police_check_done", "kz-71.police", {"outcome": "no_offence"}),
        (kz(2026, 4, 7, 9), "A", "police_check_done", "kz-75.police", {"outcome": "no_offence"}),
        (kz(2026, 4, 7, 13), "B", "police_check_done", "kz-75.police", {"outcome": "administrative"}),
        (kz(2026, 4, 7, 20), "G", "assess", school2, NO_DANGER_PEER),
        (kz(2026, 4, 8, 9), "C", "examined", "kz-75.health", {"injuries_recorded": True}),
        (kz(2026, 4, 8, 10), "B", "assess", school1, NO_DANGER_FAMILY),
        (kz(2026, 4, 8, 10), "G", "police_check_done", "kz-75.police", {"outcome": "no_offence"}),
        (kz(2026, 4, 9, 17), "A", "bullying_not_recognised", "kz-75.education_department", {"reason": "one-off"}),
        (kz(2026, 4, 13, 10), "G", "bullying_not_recognised", "kz-75.education_department", {"reason": "one-off"}),
    ]
    for at, name, trigger, actor, data in actions:
        run_until(engine, at)
        engine.fire(refs[name], trigger, actor, data, now=at)
    run_until(engine, NOW)
    return refs


@pytest.fixture
def history(engine):
    return build_history(engine)


def report(engine, region="KZ-75", window=APRIL, now=NOW, by="body", versions=False) -> dict[tuple, ComplianceRow]:
    """Rows keyed by (body or type, task kind), plus the algorithm version with `versions`."""
    with engine.reader() as conn:
        rows = compliance_report(conn, engine.svc.directory, region=region, start=window[0], end=window[1],
                                 now=now, by=by)
    keys = [(r.body_id if by == "body" else r.body_type, r.task_kind, r.algorithm_version) for r in rows]
    assert keys == sorted(keys)
    if not versions:
        keys = [k[:2] for k in keys]
        assert len(set(keys)) == len(keys)
    return dict(zip(keys, rows))


def figures(row: ComplianceRow) -> tuple:
    return (row.opened, row.done_on_time, row.done_late, row.median_delay_h, row.worst_delay_h,
            row.still_overdue, row.cancelled, row.escalations)


def test_per_body_and_kind_on_time_late_delays_overdue_and_escalations(engine, history):
    rows = report(engine)
    #                                            opened on-time late median worst overdue cancelled escalations
    assert {k: figures(r) for k, r in rows.items()} == {
        ("kz-75.school-1", "collect_information"): (4, 1, 1, 16.0, 16.0, 1, 1, {1: 2, 2: 1, 3: 1}),
        ("kz-75.school-2", "collect_information"): (1, 0, 1, 2.0, 2.0, 0, 0, {1: 1, 2: 0, 3: 0}),
        ("kz-75.police", "police_check"): (5, 1, 2, 13.5, 24.0, 1, 1, {1: 3, 2: 1, 3: 1}),
        ("kz-75.health", "medical_examination"): (1, 0, 1, 23.0, 23.0, 0, 0, {1: 1, 2: 1, 3: 1}),
        ("kz-75.education_department", "decide_bullying"): (2, 1, 1, 64.0, 64.0, 0, 0, {1: 1, 2: 0, 3: 0}),
        ("kz-75.guardianship", "family_assessment"): (1, 0, 0, None, None, 1, 0, {1: 1, 2: 1, 3: 1}),
        # supervisors' ensure_completion tasks, one per escalation, as their own kind
        ("kz-75.education_department", "ensure_completion"): (1, 0, 0, None, None, 1, 0, {1: 0, 2: 0, 3: 0}),
        ("kz-75.akimat", "ensure_completion"): (1, 0, 0, None, None, 1, 0, {1: 0, 2: 0, 3: 0}),
        ("ministry_health", "ensure_completion"): (1, 0, 1, 19.0, 19.0, 0, 0, {1: 0, 2: 0, 3: 0}),
        ("ministry_interior", "ensure_completion"): (1, 0, 0, None, None, 1, 0, {1: 0, 2: 0, 3: 0}),
    }
    police = rows[("kz-75.police", "police_check")]
    assert police.body_type == "police" and police.open_now == 1 and police.on_time_rate == 0.25
    assert rows[("ministry_interior", "ensure_completion")].body_type == "ministry_interior"


def test_region_filter_uses_the_case_region(engine, history):
    astana = report(engine, region="KZ-71")
    assert {k: figures(r) for k, r in astana.items()} == {
        ("kz-71.education_department", "ensure_completion"): (1, 0, 0, None, None, 1, 0, {1: 0, 2: 0, 3: 0}),
        ("kz-71.police", "police_check"): (1, 1, 0, None, None, 0, 0, {1: 0, 2: 0, 3: 0}),
        ("kz-71.school-1", "collect_information"): (1, 0, 0, None, None, 1, 0, {1: 1, 2: 1, 3: 1}),
    }
    everywhere = report(engine, region=None)
    almaty = report(engine)
    assert set(everywhere) == set(almaty) | set(astana)
    assert report(engine, region="KZ-11") == {}


def test_by_body_type_merges_bodies_and_takes_the_median_over_all_late_tasks(engine, history):
    rows = report(engine, region=None, by="body_type")
    school = rows[("school", "collect_information")]
    assert school.body_id == "*" and school.body_type == "school"
    # school-1 (16 h late) + school-2 (2 h late) in Almaty, the Astana school never acted
    assert figures(school) == (6, 1, 2, 9.0, 16.0, 2, 1, {1: 4, 2: 2, 3: 2})
    assert figures(rows[("police", "police_check")]) == (6, 2, 2, 13.5, 24.0, 1, 1, {1: 3, 2: 1, 3: 1})
    assert figures(rows[("education_department", "ensure_completion")]) == (2, 0, 0, None, None, 2, 0,
                                                                             {1: 0, 2: 0, 3: 0})
    assert [k for k in rows] == sorted(rows)


def test_window_counts_tasks_by_the_moment_they_opened(engine, history):
    later = kz(2026, 5, 5, 10)
    engine.launch("violence-report", "KZ-75", "kz-75.school-1", BULLYING, now=later, version=1)
    june = kz(2026, 6, 1)
    april = report(engine, now=june)
    may = report(engine, window=(kz(2026, 5, 1), june), now=june)
    assert april[("kz-75.school-1", "collect_information")].opened == 4
    assert {k: figures(r) for k, r in may.items()} == {
        ("kz-75.police", "police_check"): (1, 0, 0, None, None, 1, 0, {1: 0, 2: 0, 3: 0}),
        ("kz-75.school-1", "collect_information"): (1, 0, 0, None, None, 1, 0, {1: 0, 2: 0, 3: 0}),
    }
    # [start, end): a task opened at 10:00 is in a window ending at 10:00 only if it starts there
    assert report(engine, window=(kz(2026, 4, 1), LAUNCH)) == {}
    at_launch = report(engine, window=(LAUNCH, kz(2026, 4, 6, 10, 1)))
    assert set(at_launch) == {("kz-75.school-1", "collect_information"), ("kz-75.school-2", "collect_information"),
                              ("kz-75.police", "police_check"), ("kz-75.health", "medical_examination")}


def test_figures_are_as_of_now(engine, history):
    """A past `now` shows what was known then: later closings and later steps do not count yet."""
    rows = report(engine, now=kz(2026, 4, 7, 12))
    police = rows[("kz-75.police", "police_check")]
    # A done at 09:00; B (done 13:00), C and G overdue since 10:00; D cancelled
    assert figures(police) == (5, 1, 0, None, None, 3, 1, {1: 3, 2: 0, 3: 0})
    health = rows[("kz-75.health", "medical_examination")]
    assert figures(health) == (1, 0, 0, None, None, 1, 0, {1: 1, 2: 1, 3: 0})  # critical comes at 16:00
    assert figures(rows[("kz-75.school-1", "collect_information")]) == (4, 1, 0, None, None, 0, 1,
                                                                        {1: 0, 2: 0, 3: 0})
    assert ("kz-75.guardianship", "family_assessment") not in rows  # opens on 8 April


def test_bad_arguments(engine):
    with engine.reader() as conn, pytest.raises(ValueError, match="by must be"):
        compliance_report(conn, engine.svc.directory, region=None, start=APRIL[0], end=APRIL[1], now=NOW,
                          by="region")
    with engine.reader() as conn, pytest.raises(ValueError, match="window is empty"):
        compliance_report(conn, engine.svc.directory, region=None, start=APRIL[1], end=APRIL[0], now=NOW)
    with engine.reader() as conn, pytest.raises(ValueError, match="naive"):
        compliance_report(conn, engine.svc.directory, region=None, start=datetime(2026, 4, 1), end=APRIL[1],
                          now=NOW)


# ------------------------------------------------------------------------------------------- formats

def test_csv_has_a_header_and_a_column_per_escalation_level(engine, history):
    rows = list(report(engine).values())
    text = to_csv(rows)
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == ["body_id", "body_type", "task_kind", "algorithm_version", "opened", "done_on_time",
                         "done_late", "median_delay_h", "worst_delay_h", "still_overdue", "cancelled",
                         "cancelled_past_due", "escalations_1", "escalations_2", "escalations_3"]
    assert len(parsed) == 1 + len(rows)
    by_key = {(r[0], r[2]): r for r in parsed[1:]}
    assert by_key[("kz-75.police", "police_check")] == ["kz-75.police", "police", "police_check", "1", "5", "1",
                                                        "2", "13.5", "24.0", "1", "1", "0", "3", "1", "1"]
    assert by_key[("kz-75.akimat", "ensure_completion")][7:9] == ["", ""]  # no delays: empty cells


def test_json_parses_back_to_the_rows(engine, history):
    rows = list(report(engine).values())
    data = json.loads(to_json(rows))
    assert len(data) == len(rows)
    police = next(d for d in data if d["body_id"] == "kz-75.police")
    assert police == {"body_id": "kz-75.police", "body_type": "police", "task_kind": "police_check",
                      "algorithm_version": 1, "opened": 5, "done_on_time": 1, "done_late": 2, "median_delay_h": 13.5,
                      "worst_delay_h": 24.0, "still_overdue": 1, "cancelled": 1, "cancelled_past_due": 0,
                      "escalations": {"1": 3, "2": 1, "3": 1}}
    assert next(d for d in data if d["body_id"] == "kz-75.akimat")["median_delay_h"] is None


def test_table_is_aligned_with_a_totals_line(engine, history):
    rows = list(report(engine).values())
    text = to_table(rows)
    lines = text.splitlines()
    assert lines[0].split()[:5] == ["body", "type", "task", "version", "opened"]
    police = next(line for line in lines if line.startswith("kz-75.police "))
    assert police.split() == ["kz-75.police", "police", "police_check", "v1", "5", "1", "2", "25%", "13.5", "24",
                              "1", "1", "0", "3", "1", "1"]
    total = next(line for line in lines if line.startswith("total"))
    # 18 tasks: 3 on time, 7 late (worst 64 h), 6 overdue, 2 cancelled; 9 + 4 + 4 ladder steps
    assert total.split() == ["total", "10", "rows", "v1", "18", "3", "7", "19%", "-", "64", "6", "2", "0", "9", "4",
                             "4"]
    table_lines = lines[:lines.index("")]
    assert len(table_lines) == 1 + 1 + 10 + 1 + 1  # header, rule, rows, rule, totals
    assert len({len(line) for line in table_lines}) == 1  # numbers right-aligned under their headers
    assert lines[0].index("opened") + len("opened") == police.index(" 5 ") + 2
    by_type = to_table(list(report(engine, by="body_type").values()))
    assert by_type.splitlines()[0].split()[:4] == ["type", "task", "version", "opened"] and "*" not in by_type
    assert to_table([]) == "No tasks opened in the window."


# ------------------------------------------------------------------------------------------------ CLI

@pytest.fixture
def cli():
    root = typer.Typer()
    root.add_typer(report_app, name="report")
    runner = CliRunner()
    return lambda *args: runner.invoke(root, ["report", "compliance", *args])


@pytest.fixture
def store_url(tmp_path, monkeypatch, registry, directory, calendar):
    """The history in an SQLite file the CLI opens through QORGAU_DATABASE_URL (the CLI builds its own
    engine; the query itself runs on both backends in the tests above)."""
    url = f"sqlite:///{tmp_path / 'report.sqlite'}"
    engine = open_engine(url, registry=registry, directory=directory, calendar=calendar)
    build_history(engine)
    engine.db.dispose()
    monkeypatch.setenv("QORGAU_DATABASE_URL", url)
    return url


def test_cli_prints_the_table_for_a_region_and_kazakhstan_dates(cli, store_url):
    result = cli("--region", "kz-75", "--from", "2026-04-01", "--to", "2026-05-01")
    assert result.exit_code == 0, result.output
    assert "Compliance, KZ-75: tasks opened 2026-04-01 to 2026-05-01" in result.output
    police = next(line for line in result.output.splitlines() if line.startswith("kz-75.police "))
    assert police.split()[3:7] == ["v1", "5", "1", "2"]
    assert "kz-71" not in result.output
    # the window starts at 00:00 Kazakhstan time: 6 April 10:00 KZ is 05:00 UTC of the same day
    empty = cli("--region", "KZ-75", "--from", "2026-04-07", "--to", "2026-05-01")
    assert "kz-75.police " not in empty.output


def test_cli_csv_json_by_type_and_output_file(cli, store_url, tmp_path):
    result = cli("--from", "2026-04-01", "--to", "2026-05-01", "--by", "body_type", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    school = next(r for r in rows if r["body_type"] == "school")
    assert (school["body_id"], school["opened"], school["median_delay_h"], school["escalations_1"]) == \
        ("*", "6", "9.0", "4")
    out = tmp_path / "q2.json"
    result = cli("--region", "KZ-71", "--from", "2026-04-01", "--to", "2026-07-01", "--format", "json",
                 "--output", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert {d["body_id"] for d in data} == {"kz-71.education_department", "kz-71.police", "kz-71.school-1"}
    assert "wrote 3 rows" in result.output


@pytest.mark.parametrize("args, option, words", [
    (["--region", "KZ-99"], "--region", "unknown region 'KZ-99'"),
    (["--from", "2026-13-01"], "--from", "not a date"),
    (["--to", "01.07.2026"], "--to", "not a date"),
    (["--from", "2026-07-01", "--to", "2026-04-01"], "--to", "not after"),
    (["--by", "region"], "--by", ""),
    (["--format", "xml"], "--format", ""),
])
def test_cli_bad_options_exit_2_naming_the_option(cli, tmp_path, monkeypatch, args, option, words):
    monkeypatch.setenv("QORGAU_DATABASE_URL", f"sqlite:///{tmp_path / 'untouched.sqlite'}")
    base = {"--from": "2026-04-01", "--to": "2026-07-01"}
    given = dict(zip(args[::2], args[1::2]))
    argv = [x for k, v in {**base, **given}.items() for x in (k, v)]
    result = cli(*argv)
    assert result.exit_code == 2
    assert option in result.output and words in result.output
    assert not (tmp_path / "untouched.sqlite").exists()  # rejected before the store is opened


def test_cli_help_has_an_example(cli):
    result = cli("--help")
    assert result.exit_code == 0
    assert "qorgau report compliance --region KZ-75 --from 2026-04-01 --to 2026-07-01" in result.output


# ------------------------------------------------------------------- version 2: cancelled, late reports

def v2(form: str = "bullying", *, detected: datetime, reporter: str = "teacher") -> dict:
    """violence-report launch data of version 2 (the latest): the duty-to-report fields too."""
    summaries = {"bullying": BULLYING["summary"], "physical": PHYSICAL["summary"]}
    return {"form": form, "channel": "school", "summary": summaries[form], "detected_at": detected.isoformat(),
            "reporter": reporter}


def close_by_resolved(engine, ref: str, start: datetime, school: str = "kz-75.school-1") -> None:
    """assess → investigation → support plan → monitoring → `resolved` by the school, two hours apart,
    from `start`; the police (and health) tasks are never acted on."""
    steps = [("assess", school, NO_DANGER_FAMILY), ("assessment_done", "kz-75.guardianship", {}),
             ("plan_approved", school, {"measures": ["weekly talks with the psychologist"]}),
             ("resolved", school, {"summary": "the family situation is resolved"})]
    for i, (trigger, actor, data) in enumerate(steps):
        at = start + timedelta(hours=2 * i)
        run_until(engine, at)
        engine.fire(ref, trigger, actor, data, now=at)


def test_a_v2_case_closed_by_resolved_shows_the_police_and_health_tasks_cancelled_not_on_time(engine):
    """Version 2 (rule C3): the school's `resolved` cancels the police's and the hospital's open tasks; the
    report counts them as cancelled, never as done or on time. The same story on version 1 marked them
    done on time: the two versions are separate rows."""
    school = "kz-75.school-1"
    new = engine.launch("violence-report", "KZ-75", school, v2("physical", detected=LAUNCH - timedelta(hours=2)),
                        now=LAUNCH).ref
    old = engine.launch("violence-report", "KZ-75", school, PHYSICAL, now=LAUNCH, version=1).ref
    # resolved on Monday 6 April 16:00, before the police and health tasks are due (Tue 7 Apr 10:00)
    close_by_resolved(engine, new, kz(2026, 4, 6, 10, 30))
    close_by_resolved(engine, old, kz(2026, 4, 6, 10, 30))
    with engine.reader() as conn:
        tasks = {(r.kind, r.status, r.cancelled_by is not None) for r in conn.execute(
            select(T.tasks).join(T.cases, T.cases.c.id == T.tasks.c.case_id).where(T.cases.c.ref == new))}
    assert ("police_check", "cancelled", True) in tasks and ("medical_examination", "cancelled", True) in tasks

    rows = report(engine, versions=True)
    police_v2, health_v2 = rows[("kz-75.police", "police_check", 2)], rows[("kz-75.health", "medical_examination", 2)]
    #                          opened on-time late median worst overdue cancelled escalations
    assert figures(police_v2) == (1, 0, 0, None, None, 0, 1, {1: 0, 2: 0, 3: 0})
    assert figures(health_v2) == (1, 0, 0, None, None, 0, 1, {1: 0, 2: 0, 3: 0})
    assert police_v2.on_time_rate is None and police_v2.open_now == 0 and police_v2.cancelled_past_due == 0
    # the school's own task, completed by its closing trigger, is done on time
    assert figures(rows[("kz-75.school-1", "monitoring_review", 2)])[:3] == (1, 1, 0)
    # version 1: the same closing marked the other bodies' tasks done, and on time
    assert figures(rows[("kz-75.police", "police_check", 1)])[:3] + (rows[("kz-75.police", "police_check", 1)]
                                                                     .cancelled,) == (1, 1, 0, 0)
    assert rows[("kz-75.police", "police_check", 1)].on_time_rate == 1.0

    # every surface: the table, the CSV and the JSON show the cancelled tasks apart, per version
    table = to_table(list(rows.values()))
    police_lines = [line.split() for line in table.splitlines() if line.startswith("kz-75.police ")]
    assert police_lines == [["kz-75.police", "police", "police_check", "v1", "1", "1", "0", "100%", "-", "-", "0",
                             "0", "0", "0", "0", "0"],
                            ["kz-75.police", "police", "police_check", "v2", "1", "0", "0", "-", "-", "-", "0",
                             "1", "0", "0", "0", "0"]]
    assert "cancelled = stopped when the case closed" in table and "neither done nor on time" in table
    parsed = {(r["body_id"], r["task_kind"], r["algorithm_version"]): r
              for r in csv.DictReader(io.StringIO(to_csv(list(rows.values()))))}
    assert {k: parsed[("kz-75.health", "medical_examination", "2")][k] for k in
            ("done_on_time", "done_late", "cancelled", "still_overdue")} == \
        {"done_on_time": "0", "done_late": "0", "cancelled": "1", "still_overdue": "0"}
    data = json.loads(to_json([health_v2]))
    assert (data[0]["algorithm_version"], data[0]["cancelled"], data[0]["done_on_time"]) == (2, 1, 0)


def test_a_task_cancelled_after_its_due_is_neither_overdue_nor_on_time(engine):
    """A police check already overdue when the case is resolved: cancelled (past due), out of the
    overdue count and out of the on-time share."""
    ref = engine.launch("violence-report", "KZ-75", "kz-75.school-1", v2(detected=LAUNCH - timedelta(hours=1)),
                        now=LAUNCH).ref
    on_time = engine.launch("violence-report", "KZ-75", "kz-75.school-1", v2(detected=LAUNCH), now=LAUNCH).ref
    engine.fire(on_time, "police_check_done", "kz-75.police", {"outcome": "no_offence"}, now=kz(2026, 4, 6, 18))
    close_by_resolved(engine, ref, kz(2026, 4, 8, 10))  # the police check was due Tue 7 Apr 10:00
    police = report(engine)[("kz-75.police", "police_check")]
    assert (police.opened, police.done_on_time, police.still_overdue, police.cancelled, police.cancelled_past_due) \
        == (2, 1, 0, 1, 1)
    assert police.on_time_rate == 1.0 and police.escalations[1] == 1  # it did go overdue, as the ladder says
    before = report(engine, now=kz(2026, 4, 8, 9))[("kz-75.police", "police_check")]
    assert (before.still_overdue, before.cancelled) == (1, 0) and before.on_time_rate == 0.5


def late_history(engine) -> None:
    """Violence reports of version 2 launched in April at LAUNCH (Mon 6 Apr 10:00), detected before:
    KZ-75 school-1: 50 h before (late) and 1 h before; KZ-75 police: 30 h (late); KZ-75 health: 23 h;
    KZ-71 school-1: 25 h (late). Not counted: a version-1 case, and a late report launched in May."""
    def launch(region, actor, hours, reporter="teacher", now=LAUNCH, **kw):
        data = v2(detected=now - timedelta(hours=hours), reporter=reporter)
        return engine.launch("violence-report", region, actor, data, now=now, **kw).ref
    launch("KZ-75", "kz-75.school-1", 50)
    launch("KZ-75", "kz-75.school-1", 1, reporter="psychologist")
    launch("KZ-75", "kz-75.police", 30, reporter="police_officer")
    launch("KZ-75", "kz-75.health", 23, reporter="medical_worker")
    launch("KZ-71", "kz-71.school-1", 25, reporter="social_pedagogue")
    engine.launch("violence-report", "KZ-75", "kz-75.school-1", BULLYING, now=LAUNCH, version=1)
    launch("KZ-75", "kz-75.school-1", 48, now=kz(2026, 5, 4, 10))


def late(engine, region=None, by="body", now=NOW, window=APRIL):
    with engine.reader() as conn:
        rows = late_reports(conn, engine.svc.directory, region=region, start=window[0], end=window[1], now=now, by=by)
    return [(r.region, r.body_id, r.body_type, r.launched, r.reported_late) for r in rows], rows


def test_late_reports_are_counted_per_region_and_reporting_body(engine):
    late_history(engine)
    got, rows = late(engine)
    assert got == [("KZ-71", "kz-71.school-1", "school", 1, 1),
                   ("KZ-75", "kz-75.health", "health", 1, 0),
                   ("KZ-75", "kz-75.police", "police", 1, 1),
                   ("KZ-75", "kz-75.school-1", "school", 2, 1)]   # the version-1 case is not counted
    assert [r.late_share for r in rows] == [1.0, 0.0, 1.0, 0.5]
    assert [(t.region, t.launched, t.reported_late) for t in region_totals(rows)] == [("KZ-71", 1, 1), ("KZ-75", 4, 2)]
    assert late(engine, region="KZ-75")[0] == got[1:]
    assert late(engine, by="body_type")[0] == [("KZ-71", "*", "school", 1, 1), ("KZ-75", "*", "health", 1, 0),
                                               ("KZ-75", "*", "police", 1, 1), ("KZ-75", "*", "school", 2, 1)]
    assert late(engine, window=(kz(2026, 5, 1), kz(2026, 6, 1)), now=kz(2026, 6, 1))[0] == \
        [("KZ-75", "kz-75.school-1", "school", 1, 1)]
    assert late(engine, now=LAUNCH - timedelta(minutes=1))[0] == []  # as of `now`: not launched yet

    text = late_table(rows)
    lines = [line.split() for line in text.splitlines()]
    assert ["KZ-75", "kz-75.school-1", "school", "2", "1", "50%"] in lines
    assert ["KZ-75", "(all", "bodies)", "4", "2", "50%"] in lines  # the region's total
    assert ["total", "2", "regions", "5", "3", "60%"] in lines
    assert "more than 24 hours after the harm was detected" in text
    parsed = list(csv.reader(io.StringIO(late_to_csv(rows))))
    assert parsed[0] == ["region", "body_id", "body_type", "launched", "reported_late", "reported_late_share"]
    assert parsed[1:] == [["KZ-71", "kz-71.school-1", "school", "1", "1", "1.0"],
                          ["KZ-75", "kz-75.health", "health", "1", "0", "0.0"],
                          ["KZ-75", "kz-75.police", "police", "1", "1", "1.0"],
                          ["KZ-75", "kz-75.school-1", "school", "2", "1", "0.5"]]


def test_a_period_with_v1_and_v2_cases_says_which_version_each_case_ran(engine):
    school = "kz-75.school-1"
    engine.launch("violence-report", "KZ-75", school, BULLYING, now=LAUNCH, version=1)
    engine.launch("violence-report", "KZ-75", school, BULLYING, now=LAUNCH + timedelta(hours=1), version=1)
    engine.launch("violence-report", "KZ-75", school, v2(detected=LAUNCH), now=LAUNCH + timedelta(days=1))
    with engine.reader() as conn:
        summary = compliance_summary(conn, engine.svc.directory, region="KZ-75", start=APRIL[0], end=APRIL[1],
                                     now=NOW)
    assert summary.versions == [VersionRow("violence-report", 1, 2, 4), VersionRow("violence-report", 2, 1, 2)]
    assert summary.spans_versions
    assert [(r.body_id, r.task_kind, r.algorithm_version, r.opened) for r in summary.rows] == [
        ("kz-75.police", "police_check", 1, 2), ("kz-75.police", "police_check", 2, 1),
        ("kz-75.school-1", "collect_information", 1, 2), ("kz-75.school-1", "collect_information", 2, 1)]
    text = summary_text(summary)
    assert "violence-report version 1: 2 cases, 4 tasks" in text
    assert "violence-report version 2: 1 case, 2 tasks" in text
    assert "The window spans versions" in text
    assert [r["algorithm_version"] for r in csv.DictReader(io.StringIO(export(summary, "tasks", "csv")))] == \
        ["1", "2", "1", "2"]
    assert list(csv.reader(io.StringIO(export(summary, "versions", "csv")))) == [
        ["algorithm", "algorithm_version", "cases", "tasks"], ["violence-report", "1", "2", "4"],
        ["violence-report", "2", "1", "2"]]
    # a window of version 2 only says so, without the note
    with engine.reader() as conn:
        only_v2 = compliance_summary(conn, engine.svc.directory, region="KZ-75", start=kz(2026, 4, 7),
                                     end=APRIL[1], now=NOW)
    assert only_v2.versions == [VersionRow("violence-report", 2, 1, 2)] and not only_v2.spans_versions
    assert "The window spans versions" not in summary_text(only_v2)


def test_cli_shows_versions_and_late_reports_and_exports_each_part(cli, tmp_path, monkeypatch, registry, directory,
                                                                     calendar):
    url = f"sqlite:///{tmp_path / 'late.sqlite'}"
    engine = open_engine(url, registry=registry, directory=directory, calendar=calendar)
    late_history(engine)
    engine.db.dispose()
    monkeypatch.setenv("QORGAU_DATABASE_URL", url)
    result = cli("--from", "2026-04-01", "--to", "2026-05-01")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "violence-report version 1: 1 case" in out and "violence-report version 2: 5 cases" in out
    assert "Reported late (duty to report), per region and reporting body:" in out
    assert ["KZ-75", "kz-75.police", "police", "1", "1", "100%"] in [line.split() for line in out.splitlines()]
    result = cli("--region", "KZ-75", "--from", "2026-04-01", "--to", "2026-05-01", "--part", "reported_late",
                 "--format", "csv")
    assert result.exit_code == 0, result.output
    assert [(r["body_id"], r["launched"], r["reported_late"]) for r in csv.DictReader(io.StringIO(result.output))] \
        == [("kz-75.health", "1", "0"), ("kz-75.police", "1", "1"), ("kz-75.school-1", "2", "1")]
    result = cli("--from", "2026-04-01", "--to", "2026-05-01", "--part", "versions", "--format", "json")
    assert json.loads(result.output) == [{"algorithm": "violence-report", "algorithm_version": 1, "cases": 1,
                                          "tasks": 2},
                                         {"algorithm": "violence-report", "algorithm_version": 2, "cases": 5,
                                          "tasks": 10}]


def test_api_answers_versions_and_late_reports_and_each_csv_part(engine):
    import warnings

    from app.api import create_app
    from states.tokens import create_token
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    late_history(engine)
    auditor, _ = create_token(engine.db, "kz-75.akimat", "auditor")
    coordinator, _ = create_token(engine.db, "kz-71.education_department", "coordinator")
    with TestClient(create_app(engine, base_url="https://qorgau.example.kz")) as client:
        q = {"from": "2026-04-01", "to": "2026-05-01"}
        r = client.get("/api/v1/reports/compliance", params=q, headers={"Authorization": f"Bearer {auditor}"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert {(v["algorithm_version"], v["cases"]) for v in body["versions"]} == {(1, 1), (2, 5)}
        assert {row["algorithm_version"] for row in body["rows"]} == {1, 2}
        assert all("cancelled_past_due" in row for row in body["rows"])
        assert [(x["region"], x["body_id"], x["launched"], x["reported_late"], x["late_share"])
                for x in body["reported_late"]] == [("KZ-71", "kz-71.school-1", 1, 1, 1.0),
                                                    ("KZ-75", "kz-75.health", 1, 0, 0.0),
                                                    ("KZ-75", "kz-75.police", 1, 1, 1.0),
                                                    ("KZ-75", "kz-75.school-1", 2, 1, 0.5)]
        r = client.get("/api/v1/reports/compliance", params={**q, "format": "csv", "part": "reported_late"},
                       headers={"Authorization": f"Bearer {coordinator}"})  # a coordinator: its own region
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert r.text.splitlines() == ["region,body_id,body_type,launched,reported_late,reported_late_share",
                                       "KZ-71,kz-71.school-1,school,1,1,1.0"]
        r = client.get("/api/v1/reports/compliance", params={**q, "format": "csv"},
                       headers={"Authorization": f"Bearer {auditor}"})
        assert r.text.startswith("body_id,body_type,task_kind,algorithm_version,")
        r = client.get("/api/v1/reports/compliance", params={**q, "part": "cases"},
                       headers={"Authorization": f"Bearer {auditor}"})
        assert r.status_code == 422
