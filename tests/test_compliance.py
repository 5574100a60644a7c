"""The compliance report: on-time and late counts, delays, overdue tasks and escalation levels per body and
task kind, from histories built with the engine and the sweep (SQLite, and PostgreSQL when configured)."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import pytest
import typer
from typer.testing import CliRunner

from app.report_cli import report_app
from states.compliance import ComplianceRow, compliance_report, to_csv, to_json, to_table
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
        refs[name] = engine.launch("violence-report", "KZ-75", school1, data, now=LAUNCH).ref
    refs["F"] = engine.launch("violence-report", "KZ-71", d.schools("KZ-71")[0].id, BULLYING, now=LAUNCH).ref

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


def report(engine, region="KZ-75", window=APRIL, now=NOW, by="body") -> dict[tuple[str, str], ComplianceRow]:
    with engine.reader() as conn:
        rows = compliance_report(conn, engine.svc.directory, region=region, start=window[0], end=window[1],
                                 now=now, by=by)
    keys = [(r.body_id if by == "body" else r.body_type, r.task_kind) for r in rows]
    assert keys == sorted(keys)
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
    engine.launch("violence-report", "KZ-75", "kz-75.school-1", BULLYING, now=later)
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
    assert parsed[0] == ["body_id", "body_type", "task_kind", "opened", "done_on_time", "done_late",
                         "median_delay_h", "worst_delay_h", "still_overdue", "cancelled",
                         "escalations_1", "escalations_2", "escalations_3"]
    assert len(parsed) == 1 + len(rows)
    by_key = {(r[0], r[2]): r for r in parsed[1:]}
    assert by_key[("kz-75.police", "police_check")] == ["kz-75.police", "police", "police_check", "5", "1", "2",
                                                        "13.5", "24.0", "1", "1", "3", "1", "1"]
    assert by_key[("kz-75.akimat", "ensure_completion")][6:8] == ["", ""]  # no delays: empty cells


def test_json_parses_back_to_the_rows(engine, history):
    rows = list(report(engine).values())
    data = json.loads(to_json(rows))
    assert len(data) == len(rows)
    police = next(d for d in data if d["body_id"] == "kz-75.police")
    assert police == {"body_id": "kz-75.police", "body_type": "police", "task_kind": "police_check", "opened": 5,
                      "done_on_time": 1, "done_late": 2, "median_delay_h": 13.5, "worst_delay_h": 24.0,
                      "still_overdue": 1, "cancelled": 1, "escalations": {"1": 3, "2": 1, "3": 1}}
    assert next(d for d in data if d["body_id"] == "kz-75.akimat")["median_delay_h"] is None


def test_table_is_aligned_with_a_totals_line(engine, history):
    rows = list(report(engine).values())
    text = to_table(rows)
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["body", "type", "task", "opened"]
    police = next(line for line in lines if line.startswith("kz-75.police "))
    assert police.split() == ["kz-75.police", "police", "police_check", "5", "1", "2", "25%", "13.5", "24",
                              "1", "1", "3", "1", "1"]
    total = next(line for line in lines if line.startswith("total"))
    # 18 tasks: 3 on time, 7 late (worst 64 h), 6 overdue, 2 cancelled; 9 + 4 + 4 ladder steps
    assert total.split() == ["total", "10", "rows", "18", "3", "7", "19%", "-", "64", "6", "2", "9", "4", "4"]
    table_lines = lines[:lines.index("")]
    assert len(table_lines) == 1 + 1 + 10 + 1 + 1  # header, rule, rows, rule, totals
    assert len({len(line) for line in table_lines}) == 1  # numbers right-aligned under their headers
    assert lines[0].index("opened") + len("opened") == police.index(" 5 ") + 2
    by_type = to_table(list(report(engine, by="body_type").values()))
    assert by_type.splitlines()[0].split()[:3] == ["type", "task", "opened"] and "*" not in by_type
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
    assert police.split()[3:6] == ["5", "1", "2"]
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
