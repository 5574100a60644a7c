"""The compliance report shows who acted: the tasks done of the window per body, the body that acted
and the person who closed each (the history's closing event), in the report's CSV and JSON, in
`qorgau report compliance --part persons` and on the audit page; an erased person shows as their
pseudonym; a service token's work has no person (SQLite, and PostgreSQL when configured)."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest
import typer
from typer.testing import CliRunner

from app.report_cli import report_app
from app.web import create_site
from states.access import OPERATOR
from states.commands import CreatePerson, ErasePerson
from states.compliance import compliance_report, compliance_summary, export
from states.compliance_persons import persons_report
from states.handling import Handler
from states.store import open_engine

from conftest import kz
from test_web import sign_in

LAUNCH = kz(2026, 4, 6, 10)  # collect_information (school) due Tue 7 Apr 18:00, police_check Tue 7 Apr 10:00
APRIL = (kz(2026, 4, 1), kz(2026, 5, 1))
NOW = kz(2026, 4, 20, 12)
BULLYING = {"form": "bullying", "channel": "school", "summary": "repeated name-calling in class 5B"}
ASSESS = {"immediate_danger": False, "perpetrator": "peer"}
CHECKED = {"outcome": "no_offence"}
SCHOOL, POLICE = "kz-75.school-1", "kz-75.police"


def build_history(engine) -> dict[str, str]:
    """Violence reports (version 1) launched on Monday 6 April 10:00 in Almaty (KZ-75) and Astana:

    A  Aigul (school) assesses on time, Erlan (police) checks on time.
    B  Dana (school) assesses 16 h late, Bolat (police) checks 3 h late; Bolat's name is erased after.
    C  a service token (no person) assesses on time; the police never act.
    D  Aigul assesses and Erlan checks at the same instant (two events share their moment).
    E  Erlan, for the police, assesses in the school's place (assess is the police's trigger too).
    F  Astana: Zhanna of an Astana school assesses on time.
    L  launched in May: outside the window.
    Returns person name -> pseudonymous id.
    """
    handler = Handler(engine)
    d = engine.svc.directory
    astana_school = d.schools("KZ-71")[0].id
    people = {name: handler.handle(CreatePerson(body, "agency", name), OPERATOR).id
              for name, body in (("Aigul Testova", SCHOOL), ("Dana Testova", SCHOOL), ("Erlan Testov", POLICE),
                                 ("Bolat Testov", POLICE), ("Zhanna Testova", astana_school))}
    refs = {name: engine.launch("violence-report", "KZ-75", SCHOOL, BULLYING, now=LAUNCH, version=1).ref
            for name in "ABCDE"}
    refs["F"] = engine.launch("violence-report", "KZ-71", astana_school, BULLYING, now=LAUNCH, version=1).ref
    refs["L"] = engine.launch("violence-report", "KZ-75", SCHOOL, BULLYING, now=kz(2026, 5, 4, 10), version=1).ref
    for at, case, trigger, actor, data, person in (
            (kz(2026, 4, 6, 12), "A", "assess", SCHOOL, ASSESS, "Aigul Testova"),
            (kz(2026, 4, 6, 14), "E", "assess", POLICE, ASSESS, "Erlan Testov"),
            (kz(2026, 4, 6, 15), "C", "assess", SCHOOL, ASSESS, None),
            (kz(2026, 4, 6, 16), "F", "assess", astana_school, ASSESS, "Zhanna Testova"),
            (kz(2026, 4, 7, 8), "D", "assess", SCHOOL, ASSESS, "Aigul Testova"),
            (kz(2026, 4, 7, 8), "D", "police_check_done", POLICE, CHECKED, "Erlan Testov"),
            (kz(2026, 4, 7, 9), "A", "police_check_done", POLICE, CHECKED, "Erlan Testov"),
            (kz(2026, 4, 7, 13), "B", "police_check_done", POLICE, CHECKED, "Bolat Testov"),
            (kz(2026, 4, 8, 10), "B", "assess", SCHOOL, ASSESS, "Dana Testova"),
            (kz(2026, 5, 4, 12), "L", "assess", SCHOOL, ASSESS, "Aigul Testova")):
        engine.fire(refs[case], trigger, actor, data, now=at, person=people[person] if person else None)
    handler.handle(ErasePerson(people["Bolat Testov"]), OPERATOR)
    return people


@pytest.fixture
def people(engine):
    return build_history(engine)


def by_person(engine, region="KZ-75", now=NOW):
    with engine.reader() as conn:
        return persons_report(conn, region=region, start=APRIL[0], end=APRIL[1], now=now)


def test_who_closed_each_task_done_per_body_and_person(engine, people):
    erased = f"{people['Bolat Testov']} (erased)"
    #        body    acted for  person id                   shown name        done on time
    assert [(r.body_id, r.acted_for, r.person_id, r.person, r.done, r.done_on_time) for r in by_person(engine)] == [
        (POLICE, POLICE, people["Erlan Testov"], "Erlan Testov", 2, 2),      # A and D
        (POLICE, POLICE, people["Bolat Testov"], erased, 1, 0),               # B, late; the name erased
        (SCHOOL, POLICE, people["Erlan Testov"], "Erlan Testov", 1, 1),       # E: the police in the school's place
        (SCHOOL, SCHOOL, people["Aigul Testova"], "Aigul Testova", 2, 2),    # A and D
        (SCHOOL, SCHOOL, people["Dana Testova"], "Dana Testova", 1, 0),      # B, 16 h late
        (SCHOOL, SCHOOL, None, "", 1, 1),                                    # C: a service token
    ]


def test_the_lines_add_up_to_each_bodys_done_tasks_in_the_task_rows(engine, people):
    for region in ("KZ-75", "KZ-71", None):
        with engine.reader() as conn:
            rows = compliance_report(conn, engine.svc.directory, region=region, start=APRIL[0], end=APRIL[1], now=NOW)
        tasks: dict[str, list[int]] = {}
        for r in rows:
            t = tasks.setdefault(r.body_id, [0, 0])
            t[0] += r.done_on_time + r.done_late
            t[1] += r.done_on_time
        persons: dict[str, list[int]] = {}
        for p in by_person(engine, region):
            t = persons.setdefault(p.body_id, [0, 0])
            t[0] += p.done
            t[1] += p.done_on_time
        assert persons == {body: t for body, t in tasks.items() if t[0]}, region


def test_as_of_a_past_moment_only_what_was_done_by_then(engine, people):
    early = by_person(engine, now=kz(2026, 4, 7, 8, 30))  # after D's two events, before A's check
    assert {(r.body_id, r.person, r.done) for r in early} == {
        (SCHOOL, "Aigul Testova", 2), (SCHOOL, "Erlan Testov", 1), (SCHOOL, "", 1), (POLICE, "Erlan Testov", 1)}
    astana = by_person(engine, region="KZ-71")
    assert [(r.person, r.done, r.done_on_time) for r in astana] == [("Zhanna Testova", 1, 1)]


def test_csv_and_json_name_the_person_and_keep_the_pseudonym(engine, people):
    with engine.reader() as conn:
        summary = compliance_summary(conn, engine.svc.directory, region="KZ-75", start=APRIL[0], end=APRIL[1],
                                     now=NOW)
    lines = list(csv.DictReader(io.StringIO(export(summary, "persons", "csv"))))
    assert list(lines[0]) == ["body_id", "acted_for", "person_id", "person", "done", "done_on_time", "done_late",
                              "on_time_share"]
    dana = next(line for line in lines if line["person"] == "Dana Testova")
    assert dana == {"body_id": SCHOOL, "acted_for": SCHOOL, "person_id": people["Dana Testova"],
                    "person": "Dana Testova", "done": "1", "done_on_time": "0", "done_late": "1",
                    "on_time_share": "0.0"}
    token = next(line for line in lines if not line["person_id"])
    assert (token["person"], token["done"]) == ("", "1")
    assert "Bolat" not in export(summary, "persons", "csv")  # erased: only the pseudonym remains
    data = json.loads(export(summary, "persons", "json"))
    assert data[0] == {"body_id": POLICE, "acted_for": POLICE, "person_id": people["Erlan Testov"],
                       "person": "Erlan Testov", "done": 2, "done_on_time": 2, "done_late": 0, "on_time_share": 1.0}
    assert len(data) == len(summary.persons) == 6


# ------------------------------------------------------------------------------------------------ CLI

@pytest.fixture
def cli(tmp_path, monkeypatch, registry, directory, calendar):
    """`qorgau report compliance` over the history in an SQLite file (QORGAU_DATABASE_URL); the query
    itself runs on both backends above."""
    url = f"sqlite:///{tmp_path / 'report.sqlite'}"
    engine = open_engine(url, registry=registry, directory=directory, calendar=calendar)
    people = build_history(engine)
    engine.db.dispose()
    monkeypatch.setenv("QORGAU_DATABASE_URL", url)
    root = typer.Typer()
    root.add_typer(report_app, name="report")
    runner = CliRunner()
    return people, lambda *args: runner.invoke(root, ["report", "compliance", "--from", "2026-04-01",
                                                      "--to", "2026-05-01", *args])


def test_cli_part_persons_prints_who_did_the_tasks(cli):
    people, run = cli
    result = run("--region", "KZ-75", "--part", "persons")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Compliance, KZ-75: tasks opened 2026-04-01 to 2026-05-01" in out and "Tasks done, by person:" in out
    dana = next(line for line in out.splitlines() if "Dana Testova" in line)
    assert dana.split()[0] == SCHOOL and dana.split()[-4:] == ["1", "0", "1", "0%"]
    erlan_for_school = next(line for line in out.splitlines() if line.startswith(SCHOOL) and "Erlan" in line)
    assert POLICE in erlan_for_school  # acted for another body than the task's
    assert "(no person)" in out and f"{people['Bolat Testov']} (erased)" in out and "Bolat" not in out
    school_total = next(line for line in out.splitlines() if line.startswith(SCHOOL) and "(all)" in line)
    assert school_total.split()[-4:] == ["5", "4", "1", "80%"]
    assert "Zhanna" not in out and "Collect information" not in out  # the region's persons; only this table
    assert "Tasks done, by person" not in run("--region", "KZ-75").output  # the default table is as before


def test_cli_persons_as_csv_and_json(cli, tmp_path):
    people, run = cli
    result = run("--part", "persons", "-f", "csv")
    assert result.exit_code == 0, result.output
    lines = list(csv.DictReader(io.StringIO(result.output)))
    assert {line["person"] for line in lines} >= {"Aigul Testova", "Zhanna Testova"}
    out = tmp_path / "persons.json"
    result = run("--region", "KZ-75", "--part", "persons", "-f", "json", "-o", str(out))
    assert result.exit_code == 0 and "wrote 6 rows" in result.output
    assert {d["person_id"] for d in json.loads(out.read_text(encoding="utf-8"))} == {
        people["Aigul Testova"], people["Dana Testova"], people["Erlan Testov"], people["Bolat Testov"], None}


# ------------------------------------------------------------------------------------------------ page

def test_the_audit_page_shows_who_did_the_tasks_and_its_csv(engine, people):
    site = create_site(engine, base_url="http://testserver", oidc=None)
    auditor = sign_in(site, engine, "ministry_education", "auditor")
    page = auditor.get("/audit", params={"from": "2026-04-01", "to": "2026-05-01", "region": "KZ-75"})
    assert page.status_code == 200
    table = re.search(r'<table id="persons-table">.*?</table>', page.text, re.S).group(0)
    assert "Aigul Testova" in table and "Dana Testova" in table and "Zhanna" not in table
    assert people["Bolat Testov"] in table and "Bolat" not in page.text
    assert "no person (service token, operator or system)" in table
    link = re.search(r'href="([^"]+)" id="persons-csv-link"', page.text).group(1).replace("&amp;", "&")
    answer = auditor.get(link)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert 'filename="compliance-persons-KZ-75-2026-04-01-2026-05-01.csv"' in answer.headers["content-disposition"]
    assert answer.text.startswith("body_id,acted_for,person_id,person,") and "Dana Testova" in answer.text
    # a coordinator sees the persons of its own region only
    astana = sign_in(site, engine, "kz-71.education_department", "coordinator")
    mine = astana.get("/audit", params={"from": "2026-04-01", "to": "2026-05-01"}).text
    assert "Zhanna Testova" in mine and "Aigul" not in mine
    # outside the window nobody did anything
    empty = auditor.get("/audit", params={"from": "2026-06-01", "to": "2026-07-01"}).text
    assert 'id="persons-table"' not in empty and "No task opened in the window is done yet." in empty
