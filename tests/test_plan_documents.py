"""The decree's reports as the documents the ministries file (issue 20 item 3): an executor's quarterly
report and МП's consolidated half-year report, as Word and Excel, in Russian and Kazakh, downloaded
through the API, the pages and the command line, then opened again with python-docx and openpyxl; and
the audit page's compliance report as Excel, with the rows of its CSV."""
from __future__ import annotations

import csv
import io
import warnings

import pytest
from docx import Document
from openpyxl import load_workbook
from typer.testing import CliRunner

from app.api import create_app
from app.cli import app as cli
from app.reports.words import PLAN_748, word
from notifications.phrases import period_title
from states.store import open_engine
from states.tokens import create_token

from conftest import kz
from factories import detected_at, violence_report_data
from test_web import sign_in

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.db

T0 = kz(2025, 7, 1, 9)
QUARTER_ITEMS = [{"item": "29-1", "status": "in_progress", "note": "реестры открыты в 17 регионах"},
                 {"item": "4", "status": "done", "note": "приказ № 123 <утверждён> & опубликован"}]
HALF_ITEMS = [{"item": "1", "status": "done", "note": "карта рисков в НОБД"},
              {"item": "3", "status": "overdue", "note": ""}]
STATUS = {"ru": {"done": "Исполнено", "in_progress": "В работе", "overdue": "Просрочено"},
          "kk": {"done": "Орындалды", "in_progress": "Орындалуда", "overdue": "Мерзімі өткен"}}
LANGS = ("ru", "kk")
UNDER_REVIEW = {"ru": "На рассмотрении", "kk": "Қаралуда"}


def make_reports(engine) -> dict[str, str]:
    """МЗ's 2025-Q2 report (submitted), МП's 2025-H1 consolidated report (submitted, executors missing),
    a violence report of KZ-75 in the period reported two days after detection, and a violence-report
    case for the refusals."""
    quarter = engine.launch("plan-reporting", "KZ-71", "system", {"period": "2025-Q2", "executor": "ministry_health"},
                            now=T0).ref
    engine.fire(quarter, "report_submitted", "ministry_health", {"items": QUARTER_ITEMS}, now=T0)
    q1 = engine.launch("plan-reporting", "KZ-71", "system", {"period": "2025-Q1", "executor": "ministry_health"},
                       now=T0).ref
    engine.fire(q1, "report_submitted", "ministry_health", {"items": QUARTER_ITEMS[:1]}, now=T0)
    engine.fire(q1, "report_accepted", "ministry_education", {}, now=T0)
    half = engine.launch("plan-reporting", "KZ-71", "ministry_education",
                         {"period": "2025-H1", "executor": "ministry_education"}, now=T0).ref
    engine.fire(half, "report_submitted", "ministry_education", {"items": HALF_ITEMS}, now=T0)
    launched = kz(2025, 5, 6, 10)
    school = engine.svc.directory.schools("KZ-75")[0].id
    violence = engine.launch("violence-report", "KZ-75", school,
                             violence_report_data(now=launched, detected_at=detected_at(launched, days=2)),
                             now=launched).ref
    return {"quarter": quarter, "half": half, "violence": violence}


# ------------------------------------------------------------------------------------- reading back

def docx_parts(content: bytes) -> tuple[str, list[list[str]]]:
    """The document's paragraphs as one text, and every table row's cells."""
    doc = Document(io.BytesIO(content))
    rows = [[c.text for c in row.cells] for table in doc.tables for row in table.rows]
    return "\n".join(p.text for p in doc.paragraphs), rows


def xlsx_sheets(content: bytes) -> dict[str, list[list]]:
    book = load_workbook(io.BytesIO(content))
    return {sheet.title: [list(r) for r in sheet.iter_rows(values_only=True)] for sheet in book.worksheets}


def check_docx(engine, content: bytes, lang: str, *, executor: str, period: str, items: list[dict],
               missing: bool) -> None:
    text, rows = docx_parts(content)
    directory = engine.svc.directory
    title = "title.half_year" if missing else "title.quarterly"
    assert word(title, lang) in text and PLAN_748[lang] in text
    facts = {r[0]: r[1] for r in rows if len(r) == 2}
    assert facts[word("executor", lang)] == directory.get(executor).name_in(lang)
    assert facts[word("period", lang)] == period_title(period)[lang]
    catalogue = engine.svc.catalogue
    for item in items:
        measure = catalogue.get(item["item"])
        assert [item["item"], measure.title, measure.form, measure.deadline, STATUS[lang][item["status"]],
                item["note"]] in rows
    akimat = directory.get("kz-75.akimat").name_in(lang)
    assert ([akimat, period_title("2025-Q1")[lang], word("not_launched", lang)] in rows) is missing
    assert (word("missing", lang) in text) is missing
    region_rows = {r[0]: r for r in rows if len(r) == 9}
    for code, region in directory.regions.items():
        assert region.name[lang] in region_rows, code
    almaty = region_rows[directory.regions["KZ-75"].name[lang]]
    assert int(almaty[2]) >= 1 and almaty[7:] == ["1", "1"]  # its tasks; one violence report, reported late
    assert region_rows[word("total", lang)][7:] == ["1", "1"]


def check_xlsx(engine, content: bytes, lang: str, *, executor: str, period: str, items: list[dict],
               missing: bool) -> None:
    sheets = xlsx_sheets(content)
    directory = engine.svc.directory
    expected = [word("sheet.measures", lang), word("sheet.statistics", lang)]
    assert list(sheets) == (expected + [word("sheet.missing", lang)] if missing else expected)
    measures = sheets[word("sheet.measures", lang)]
    assert measures[0] == [word("title.half_year" if missing else "title.quarterly", lang)] + [None] * 5
    assert measures[1][0] == PLAN_748[lang]
    assert [word("executor", lang), directory.get(executor).name_in(lang)] == measures[2][:2]
    assert [word("period", lang), period_title(period)[lang]] == measures[4][:2]
    for item in items:
        measure = engine.svc.catalogue.get(item["item"])
        assert [item["item"], measure.title, measure.form, measure.deadline, STATUS[lang][item["status"]],
                item["note"] or None] in measures
    stats = sheets[word("sheet.statistics", lang)]
    by_region = {r[0]: r for r in stats[3:]}
    for region in directory.regions.values():
        assert region.name[lang] in by_region
    assert by_region[directory.regions["KZ-75"].name[lang]][7:] == [1, 1]
    assert by_region[word("total", lang)][7:] == [1, 1]
    if missing:
        rows = sheets[word("sheet.missing", lang)]
        akimat = directory.get("kz-75.akimat").name_in(lang)
        assert [akimat, period_title("2025-Q2")[lang], word("not_launched", lang)] in rows
        mz = directory.get("ministry_health").name_in(lang)
        assert [mz, period_title("2025-Q2")[lang], UNDER_REVIEW[lang]] in rows  # submitted, not yet accepted
        assert [r for r in rows if r[0] == mz and r[1] == period_title("2025-Q1")[lang]] == []  # accepted


CASES = {"quarter": dict(executor="ministry_health", period="2025-Q2", items=QUARTER_ITEMS, missing=False),
         "half": dict(executor="ministry_education", period="2025-H1", items=HALF_ITEMS, missing=True)}


# ------------------------------------------------------------------------------------------- the API

@pytest.fixture
def api(engine):
    refs = make_reports(engine)
    tokens = {name: create_token(engine.db, body, role, name)[0] for name, (body, role) in {
        "mp": ("ministry_education", "coordinator"), "mz": ("ministry_health", "agency"),
        "school": ("kz-75.school-1", "agency"), "coord_75": ("kz-75.education_department", "coordinator")}.items()}
    client = TestClient(create_app(engine, base_url="https://qorgau.example.kz"))
    yield client, refs, lambda who: {"Authorization": f"Bearer {tokens[who]}"}
    client.close()


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("which", list(CASES))
def test_the_api_gives_each_report_as_word_and_excel_in_russian_and_kazakh(engine, api, which, lang):
    client, refs, auth = api
    ref = refs[which]
    for fmt, check in (("docx", check_docx), ("xlsx", check_xlsx)):
        r = client.get(f"/api/v1/cases/{ref}/report.{fmt}", params={"lang": lang}, headers=auth("mp"))
        assert r.status_code == 200, r.text
        assert r.headers["content-disposition"] == \
            f'attachment; filename="{ref}-{CASES[which]["period"]}-{lang}.{fmt}"'
        assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument")
        check(engine, r.content, lang, **CASES[which])


def test_the_executor_reads_its_own_report_and_nobody_outside_the_case_does(api):
    client, refs, auth = api
    assert client.get(f"/api/v1/cases/{refs['quarter']}/report.docx", headers=auth("mz")).status_code == 200
    for who in ("school", "coord_75"):
        r = client.get(f"/api/v1/cases/{refs['quarter']}/report.xlsx", params={"lang": "kk"}, headers=auth(who))
        assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text


@pytest.mark.parametrize("path, params, status, code, field", [
    ("/api/v1/cases/{quarter}/report.docx", {"lang": "en"}, 422, "invalid_data", "lang"),
    ("/api/v1/cases/{quarter}/report.xlsx", {"lang": "de"}, 422, "invalid_data", "lang"),
    ("/api/v1/cases/{quarter}/report.docx", {"language": "kk"}, 422, "invalid_data", "language"),
    ("/api/v1/cases/{violence}/report.docx", {"lang": "ru"}, 422, "invalid_data", "case"),
    ("/api/v1/cases/PR-71-999999/report.xlsx", {}, 404, "unknown_case", "case"),
])
def test_a_report_that_cannot_be_made_is_refused_naming_why(api, path, params, status, code, field):
    client, refs, auth = api
    r = client.get(path.format(**refs), params=params, headers=auth("mp"))
    assert r.status_code == status and r.json()["code"] == code, r.text
    assert r.json().get("field") == field
    assert (refs["violence"] if "violence" in path else "PR-71-999999") in r.json()["message"] or field != "case"


# ----------------------------------------------------------------------------------- the command line

@pytest.fixture
def local_store(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("QORGAU_DATABASE_URL", url)
    engine = open_engine(url)
    refs = make_reports(engine)
    yield engine, refs
    engine.db.dispose()


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("which", list(CASES))
def test_the_command_line_writes_each_report_as_word_and_excel(local_store, tmp_path, which, lang):
    engine, refs = local_store
    for fmt, check in (("docx", check_docx), ("xlsx", check_xlsx)):
        out = tmp_path / f"{which}-{lang}.{fmt}"
        result = CliRunner().invoke(cli, ["report", "plan", refs[which], "--format", fmt, "--lang", lang,
                                          "--out", str(out)])
        assert result.exit_code == 0, result.output
        check(engine, out.read_bytes(), lang, **CASES[which])


def test_the_command_line_refuses_a_case_that_is_not_a_plan_report(local_store, tmp_path):
    _, refs = local_store
    result = CliRunner().invoke(cli, ["report", "plan", refs["violence"], "--out", str(tmp_path / "x.docx")])
    assert result.exit_code == 1 and "invalid_data" in result.output and "(field: case)" in result.output
    assert not (tmp_path / "x.docx").exists()


# ------------------------------------------------------------------------------------------ the pages

@pytest.fixture
def site(engine):
    from app.web import create_site
    return create_site(engine, base_url="http://testserver")


def test_the_case_page_links_the_documents_and_serves_them(site, engine):
    refs = make_reports(engine)
    mp = sign_in(site, engine, "ministry_education", "coordinator", lang="kk")
    page = mp.get(f"/cases/{refs['half']}")
    assert page.status_code == 200
    for fmt in ("docx", "xlsx"):
        for lang in LANGS:
            assert f'href="/cases/{refs["half"]}/report.{fmt}?lang={lang}"' in page.text
    r = mp.get(f"/cases/{refs['half']}/report.docx?lang=kk")
    assert r.status_code == 200 and r.headers["content-disposition"].endswith('-2025-H1-kk.docx"')
    check_docx(engine, r.content, "kk", **CASES["half"])
    r = mp.get(f"/cases/{refs['quarter']}/report.xlsx?lang=ru")
    check_xlsx(engine, r.content, "ru", **CASES["quarter"])
    assert "report-documents" not in mp.get(f"/cases/{refs['violence']}").text
    assert mp.get(f"/cases/{refs['violence']}/report.docx").status_code == 422
    school = sign_in(site, engine, "kz-75.school-1", "agency")
    assert school.get(f"/cases/{refs['quarter']}/report.docx").status_code == 403


def _normal(value):
    """A CSV text or a workbook cell as one comparable value."""
    if value in ("", None):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def test_the_compliance_report_as_excel_has_the_rows_of_its_csv(site, engine):
    make_reports(engine)
    auditor = sign_in(site, engine, "kz-75.akimat", "auditor")
    query = "from=2025-04-01&to=2025-07-01"
    page = auditor.get(f"/audit?{query}")
    assert f'href="/audit/compliance.xlsx?from=2025-04-01&amp;to=2025-07-01"' in page.text
    r = auditor.get(f"/audit/compliance.xlsx?{query}")
    assert r.status_code == 200 and r.headers["content-disposition"].endswith('-KZ-2025-04-01-2025-07-01.xlsx"')
    sheets = xlsx_sheets(r.content)
    assert {"tasks", "reported_late", "versions"} <= set(sheets)
    for part, rows in sheets.items():
        text = auditor.get(f"/audit/compliance.csv?{query}&part={part}").text
        expected = [[_normal(v) for v in line] for line in csv.reader(io.StringIO(text))]
        assert [[_normal(v) for v in row] for row in rows] == expected, part
    assert len(sheets["tasks"]) > 1 and len(sheets["reported_late"]) == 2
    only_late = xlsx_sheets(auditor.get(f"/audit/compliance.xlsx?{query}&part=reported_late").content)
    assert list(only_late) == ["reported_late"]
    agency = sign_in(site, engine, "kz-75.school-1", "agency")
    assert agency.get(f"/audit/compliance.xlsx?{query}").status_code == 403
