"""The migration pages (../shared/spec/migration.md): the ministry's coordinator picks the selection,
reads the plan (counts first, then each case), applies it and watches it end; auditors read who ran
each migration; agencies and regional coordinators see none of it; the case page tells the move."""
from __future__ import annotations

import os
import re
import time

import pytest

os.environ.setdefault("QORGAU_SESSION_SECRET", "test-session-secret-not-for-production")

from app.web import create_site  # noqa: E402
from states.access import Principal  # noqa: E402
from states.commands import FinishMigration, StartMigration  # noqa: E402
from states.handling import Handler  # noqa: E402

from test_migration_api import version_1_cases, written  # noqa: E402
from test_web import csrf_of, sign_in  # noqa: E402

pytestmark = pytest.mark.db

MINISTRY = ("ministry_education", "coordinator")
SELECTION = {"algorithm": "violence-report", "to_version": "2", "region": "", "state": ""}
STATUS = re.compile(r'data-status="(\w+)"')


@pytest.fixture
def site(engine):
    return create_site(engine, base_url="http://testserver")


@pytest.fixture
def refs(engine):
    return version_1_cases(engine)


def planned(client, selection=SELECTION) -> str:
    """Plan the selection from the form; the plan page's address."""
    form = client.get("/migrations")
    r = client.post("/migrations", data={"csrf": csrf_of(form.text), **selection})
    assert r.status_code == 303, r.text
    return r.headers["location"]


def applied(client, plan: str) -> str:
    """Apply the plan; the address of the run's page once it has ended (polled as a browser would)."""
    r = client.post(f"{plan}/apply", data={"csrf": csrf_of(client.get(plan).text)})
    assert r.status_code == 303, r.text
    deadline = time.monotonic() + 30
    while True:
        page = client.get(r.headers["location"])
        status = STATUS.search(page.text).group(1)
        if status != "running":
            assert "refresh" not in page.headers
            return r.headers["location"]
        assert page.headers["refresh"] == "2" and time.monotonic() < deadline
        time.sleep(0.05)


def test_the_coordinator_reads_counts_then_cases_applies_and_watches_it_end(site, engine, refs):
    # one event loop for the client, as under uvicorn: the run goes on after the answer
    with sign_in(site, engine, *MINISTRY) as client:
        page = client.get("/migrations")
        assert page.status_code == 200 and 'id="plan-form"' in page.text and 'href="/migrations"' in page.text
        plan = planned(client)
        shown = client.get(plan).text
        assert shown.index('id="counts"') < shown.index('id="plan-cases"')
        assert re.search(r'id="count-cases">2<', shown) and re.search(r'id="count-tasks_moved">1<', shown)
        assert re.search(r'id="count-not_migratable">0<', shown)
        row = re.search(rf'<tr>\s*<td[^>]*><a href="/cases/{refs["bullying"]}">.*?</tr>', shown, re.S).group(0)
        assert "Education Department of Almaty (synthetic) → <strong>School-Gymnasium No. 1, Almaty" in row
        assert "due kept" in row and "Decide on bullying" in row
        assert f'href="/cases/{refs["fresh"]}"' in shown
        assert written(engine) == (1, 0)  # the plan is kept, nothing moved

        run = applied(client, plan)
        outcome = client.get(run).text
        assert 'data-status="done"' in outcome and "2 of 2 cases processed" in outcome
        assert re.search(r'id="count-moved">2<', outcome) and re.search(r'id="count-failed">0<', outcome)
        assert written(engine) == (2, 2)

        again = client.post(f"{plan}/apply", data={"csrf": csrf_of(client.get(plan).text)})  # nothing left to move
        assert again.headers["location"] == "/migrations?nothing=1"
        assert "No running case to move." in client.get(again.headers["location"]).text
        assert written(engine) == (2, 2)


def test_an_auditor_reads_who_ran_each_migration_and_changes_nothing(site, engine, refs):
    coordinator = sign_in(site, engine, *MINISTRY)
    plan = planned(coordinator, {**SELECTION, "region": "KZ-75"})
    run = applied(coordinator, plan)
    auditor = sign_in(site, engine, "kz-75.akimat", "auditor")
    listing = auditor.get("/migrations")
    assert listing.status_code == 200 and 'href="/migrations"' in listing.text
    assert 'id="plan-form"' not in listing.text
    table = re.search(r'<table[^>]*id="migrations".*?</table>', listing.text, re.S).group(0)
    assert table.count("Ministry of Education of the Republic of Kazakhstan") == 2 and "(coordinator)" in table
    assert f'href="{run}"' in table and f'href="{plan}"' in table and "Almaty" in table
    assert "done" in table and "planned" in table
    page = auditor.get(plan)
    assert page.status_code == 200 and 'id="apply-form"' not in page.text
    assert auditor.post(f"{plan}/apply", data={"csrf": csrf_of(page.text)}).status_code == 403
    assert auditor.post("/migrations", data={"csrf": csrf_of(page.text), **SELECTION}).status_code == 403
    assert written(engine) == (2, 1)


@pytest.mark.parametrize("body, role", [("kz-75.school-1", "agency"), ("kz-75.education_department", "coordinator")])
def test_agencies_and_regional_coordinators_neither_see_nor_use_it(site, engine, refs, body, role):
    plan = planned(sign_in(site, engine, *MINISTRY))
    client = sign_in(site, engine, body, role)
    home = client.get("/cases")
    assert 'href="/migrations"' not in home.text
    assert client.get("/migrations").status_code == 403 and client.get(plan).status_code == 403
    csrf = csrf_of(home.text)
    assert client.post("/migrations", data={"csrf": csrf, **SELECTION}).status_code == 403
    assert client.post(f"{plan}/apply", data={"csrf": csrf}).status_code == 403
    assert written(engine) == (1, 0)


@pytest.mark.parametrize("change, field", [
    ({"algorithm": "no-such-algorithm"}, "algorithm"),
    ({"to_version": "99"}, "to_version"),
    ({"to_version": "0"}, "to_version"),
    ({"to_version": "two"}, "to_version"),
    ({"region": "KZ-99"}, "region"),
    ({"state": "no_such_state"}, "state"),
])
def test_a_selection_that_means_nothing_is_refused_beside_its_field(site, engine, refs, change, field):
    client = sign_in(site, engine, *MINISTRY)
    form = client.get("/migrations")
    r = client.post("/migrations", data={"csrf": csrf_of(form.text), **SELECTION, **change})
    assert r.status_code == 422
    assert re.search(rf'<p class="error" id="err-{field}" data-error-for="{field}">', r.text)
    assert written(engine) == (0, 0)


def test_forms_need_their_csrf_token_and_addresses_are_checked(site, engine, refs):
    client = sign_in(site, engine, *MINISTRY)
    assert client.post("/migrations", data=SELECTION).status_code == 403
    plan = planned(client)
    assert client.post(f"{plan}/apply", data={}).status_code == 403
    assert written(engine) == (1, 0)
    assert client.get("/migrations/abc").status_code == 422
    assert client.get("/migrations/99999").status_code == 404
    assert client.post("/migrations/99999/apply", data={"csrf": csrf_of(client.get(plan).text)}).status_code == 404


def test_the_case_page_tells_the_migration_in_each_language(site, engine, refs):
    applied(sign_in(site, engine, "government_office", "admin"), planned(sign_in(site, engine, *MINISTRY)))
    auditor = sign_in(site, engine, "kz-75.akimat", "auditor")
    page = auditor.get(f"/cases/{refs['bullying']}").text
    assert "Violence report (version 2)" in page
    timeline = re.search(r'id="timeline".*?</ol>', page, re.S).group(0)
    assert "Moved to a new version of the algorithm" in timeline
    assert "Moved to version 2 of the algorithm (from version 1)" in timeline
    assert ("Task “Decide on bullying” moved from Education Department of Almaty (synthetic) to "
            "School-Gymnasium No. 1, Almaty (synthetic); due kept") in timeline
    before = re.search(r'<option value="([^"]+)" data-seq="2"', page).group(1)  # the assessment, before the move
    assert "Violence report (version 1)" in auditor.get(f"/cases/{refs['bullying']}", params={"at": before}).text
    words = {"ru": ("Переведён на версию 2 алгоритма (с версии 1)", "срок сохранён"),
             "kk": ("Алгоритмнің 2-нұсқасына көшірілді (1-нұсқадан)", "мерзімі сақталды")}
    for lang, expected in words.items():
        text = auditor.get(f"/cases/{refs['bullying']}", params={"lang": lang}).text
        assert all(e in text for e in expected), lang


def test_a_running_migrations_page_refreshes_itself_until_it_ends(site, engine, refs):
    ministry = Principal(None, None, "coordinator", engine.svc.directory.find("ministry_education"))
    run_id = Handler(engine).handle(StartMigration("violence-report", 2, total=2), ministry)  # opened, none moved yet
    client = sign_in(site, engine, "kz-75.akimat", "auditor")
    page = client.get(f"/migrations/{run_id}")
    assert page.headers["refresh"] == "2" and 'data-status="running"' in page.text
    assert "0 of 2 cases processed" in page.text and "This page refreshes itself." in page.text
    Handler(engine).handle(FinishMigration(run_id, {"moved": 0, "skipped": 0, "not_migratable": [],
                                                    "failed": [{"ref": refs["fresh"], "reason": "conflict: test"}]},
                                           failed=True), ministry)
    page = client.get(f"/migrations/{run_id}")
    assert "refresh" not in page.headers and 'data-status="failed"' in page.text
    fresh = refs["fresh"]
    assert re.search(rf'id="failures"><li><a href="/cases/{fresh}">{fresh}</a>: conflict: test', page.text)
