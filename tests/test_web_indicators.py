"""The risk map's aggregates (states/indicators.py) against cases whose figures are known; the map
and the audit page as a reader sees them (reported late, cancelled tasks, algorithm versions)."""
from __future__ import annotations

import csv
import io
import os
import re
from datetime import datetime, timedelta

import pytest

os.environ.setdefault("QORGAU_SESSION_SECRET", "test-session-secret-not-for-production")

from fastapi.testclient import TestClient  # noqa: E402

from app.web import create_site  # noqa: E402
from states.clock import utcnow  # noqa: E402
from states.indicators import Figure, disclose, region_figures  # noqa: E402

from test_web import sign_in  # noqa: E402

pytestmark = pytest.mark.db
VR_V1 = {"form": "bullying", "channel": "school", "summary": "synthetic"}


def vr(at: datetime, *, late_by: timedelta = timedelta(hours=1), form: str = "bullying") -> dict:
    """violence-report launch data of version 2 for a launch at `at`, the harm detected `late_by` before."""
    return {"form": form, "channel": "school", "summary": "synthetic", "detected_at": (at - late_by).isoformat(),
            "reporter": "teacher"}


def launch_vr(engine, region: str, actor: str, *, ago: timedelta = timedelta(0), late: bool = False, **kw) -> str:
    at = utcnow() - ago
    data = vr(at, late_by=timedelta(hours=30) if late else timedelta(hours=1), **kw)
    return engine.launch("violence-report", region, actor, data, now=at).ref


def figures(engine, indicator, **kw):
    now = utcnow()
    with engine.reader() as conn:
        return region_figures(conn, engine.registry, engine.svc.directory, indicator, now=now,
                              start=kw.pop("start", now - timedelta(days=30)), end=kw.pop("end", now + timedelta(days=1)),
                              **kw)


def test_counts_per_region(engine):
    now = utcnow()
    a = launch_vr(engine, "KZ-75", "kz-75.school-1", ago=timedelta(days=6))
    engine.launch("violence-report", "KZ-75", "kz-75.school-1", vr(now), now=now)
    closed = launch_vr(engine, "KZ-71", "kz-71.school-1", ago=timedelta(days=1))
    engine.fire(closed, "withdraw", "kz-71.education_department", {"reason": "entered twice"})
    engine.launch("suicide-response", "KZ-71", "kz-71.health",
                  {"kind": "attempt", "channel": "health", "summary": "synthetic"}, now=now - timedelta(days=2))
    engine.launch("suicide-response", "KZ-71", "kz-71.health",
                  {"kind": "signs", "channel": "health", "summary": "synthetic"}, now=now - timedelta(days=2))
    assert figures(engine, "open_cases") == {"KZ-75": Figure(2, 2), "KZ-71": Figure(2, 2)}
    assert figures(engine, "open_cases", algorithm="suicide-response") == {"KZ-71": Figure(2, 2)}
    overdue = figures(engine, "overdue_tasks")
    assert overdue["KZ-75"].value == 2  # collect_information and police_check of the 6-day-old case
    assert figures(engine, "suicide_attempts") == {"KZ-71": Figure(1, 1)}
    assert figures(engine, "critical_cases") == {}
    engine.fire(a, "assess", "kz-75.school-1", {"immediate_danger": False, "perpetrator": "peer"})
    median = figures(engine, "median_reaction", body_type="school")
    assert median["KZ-75"].n == 1 and median["KZ-75"].value >= 6 * 24 - 1


def test_small_counts_are_disclosed_only_with_access():
    assert disclose(Figure(3, 3), has_access=False) == "<5"
    assert disclose(Figure(3, 3), has_access=True) == "3"
    assert disclose(Figure(5, 5), has_access=False) == "5"
    assert disclose(Figure(0, 0), has_access=False) == "0"
    assert disclose(Figure(12.5, 2), has_access=False) == "<5"
    assert disclose(None, has_access=False) is None


# ------------------------------------------------------------------------------------------ reported late

def test_reported_late_counts_late_violence_reports_per_region_in_the_window(engine):
    for _ in range(2):
        launch_vr(engine, "KZ-75", "kz-75.school-1", ago=timedelta(days=2), late=True)
    launch_vr(engine, "KZ-75", "kz-75.police", ago=timedelta(days=1), late=True)
    launch_vr(engine, "KZ-75", "kz-75.school-1", ago=timedelta(days=1))            # reported in time
    launch_vr(engine, "KZ-71", "kz-71.health", ago=timedelta(days=3), late=True, form="physical")
    launch_vr(engine, "KZ-11", "kz-11.school-1", ago=timedelta(days=40), late=True)  # before the window
    engine.launch("violence-report", "KZ-11", "kz-11.school-1", VR_V1, now=utcnow(), version=1)  # v1: no record
    assert figures(engine, "reported_late") == {"KZ-75": Figure(3, 3), "KZ-71": Figure(1, 1)}
    now = utcnow()
    assert figures(engine, "reported_late", start=now - timedelta(days=60), end=now - timedelta(days=30)) == \
        {"KZ-11": Figure(1, 1)}
    with engine.reader() as conn, pytest.raises(ValueError, match="needs a window"):
        region_figures(conn, engine.registry, engine.svc.directory, "reported_late", now=now)


def site_client(engine, body: str, role: str, lang: str = "en") -> TestClient:
    return sign_in(create_site(engine, base_url="http://testserver"), engine, body, role, lang)


def test_the_map_shows_reported_late_and_hides_small_counts_without_access(engine):
    for _ in range(6):
        launch_vr(engine, "KZ-75", "kz-75.school-1", ago=timedelta(days=2), late=True)
    for _ in range(2):
        launch_vr(engine, "KZ-71", "kz-71.school-1", ago=timedelta(days=2), late=True)
    launch_vr(engine, "KZ-71", "kz-71.school-1", ago=timedelta(days=2))
    agency = site_client(engine, "kz-75.police", "agency")
    page = agency.get("/map?indicator=reported_late").text
    assert '<option value="reported_late" selected>Reported late</option>' in page
    assert 'aria-label="Almaty 6 KZ-75 — Almaty: Reported late"' in page
    assert 'aria-label="Astana &lt;5 KZ-71 — Astana: Reported late"' in page  # 2: hidden outside its access
    assert 'id="map-from"' in page
    auditor = site_client(engine, "ministry_education", "auditor")
    assert 'aria-label="Astana 2 KZ-71 — Astana: Reported late"' in auditor.get("/map?indicator=reported_late").text
    for lang, label in (("kk", "Кешіктіріп хабарланды"), ("ru", "Сообщено с опозданием")):
        page = site_client(engine, "ministry_education", "auditor", lang).get("/map?indicator=reported_late").text
        assert f'<h2 id="map-h">{label}</h2>' in page


def close_resolved_v2(engine, region: str = "KZ-75") -> str:
    """A physical-violence report of version 2 the school resolves within hours: the police check
    and the medical examination, never acted on, are cancelled."""
    start = utcnow() - timedelta(hours=10)
    school = f"{region.lower()}.school-1"
    ref = engine.launch("violence-report", region, school, vr(start, form="physical"), now=start).ref
    steps = [("assess", school, {"immediate_danger": False, "perpetrator": "family"}),
             ("assessment_done", f"{region.lower()}.guardianship", {}),
             ("plan_approved", school, {"measures": ["weekly talks"]}),
             ("resolved", school, {"summary": "resolved"})]
    for i, (trigger, actor, data) in enumerate(steps, start=1):
        engine.fire(ref, trigger, actor, data, now=start + timedelta(hours=i))
    return ref


def test_the_audit_page_shows_cancelled_tasks_apart_the_version_of_each_row_and_late_reports(engine):
    close_resolved_v2(engine)
    at = utcnow() - timedelta(hours=5)
    engine.launch("violence-report", "KZ-75", "kz-75.police", VR_V1, now=at, version=1)
    launch_vr(engine, "KZ-75", "kz-75.police", ago=timedelta(hours=3), late=True)
    auditor = site_client(engine, "ministry_education", "auditor")
    page = auditor.get("/audit").text
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td>((?:<td class=\"num\">[^<]*</td>\s*)+)</tr>", page)
    table = {(body, kind, re.findall(r">([^<]*)<", nums)[0]): re.findall(r'class="num">([^<]*)<', nums)
             for body, kind, nums in rows}
    # version, opened, on time, late, overdue, cancelled, of which past due, on time %, median delay
    police, hospital = "Police Department of Almaty (synthetic)", "Children&#39;s Multidisciplinary Hospital of Almaty (synthetic)"
    assert table[(hospital, "Medical examination", "2")] == ["2", "1", "0", "0", "0", "1", "0", "—", "—"]
    # v2: the resolved case's check cancelled, the late report's check not yet due; v1: not yet due
    assert table[(police, "Police check", "2")] == ["2", "2", "0", "0", "0", "1", "0", "—", "—"]
    assert table[(police, "Police check", "1")] == ["1", "1", "0", "0", "0", "0", "0", "—", "—"]
    # the school's own task, completed by its closing trigger, is on time
    assert table[("School-Gymnasium No. 1, Almaty (synthetic)", "Monitoring review", "2")][2] == "1"
    assert ">Cancelled</th>" in page and ">Algorithm version</th>" in page
    assert "they count neither as done nor as on time" in page
    assert 'id="spans-versions"' in page and "Violence report, version 1 — cases: 1, tasks: 2" in page
    late = page[page.index('id="late-regions-table"'):page.index('id="late-bodies-table"')]
    assert re.search(r"<td>Almaty</td><td class=\"num\">2</td><td class=\"num\">1</td><td class=\"num\">50</td>",
                     late)
    link = re.search(r'href="([^"]+)" id="late-csv-link"', page).group(1).replace("&amp;", "&")
    r = auditor.get(link)
    assert r.status_code == 200 and "reported-late" in r.headers["content-disposition"]
    assert [(x["body_id"], x["launched"], x["reported_late"]) for x in csv.DictReader(io.StringIO(r.text))] == \
        [("kz-75.police", "1", "1"), ("kz-75.school-1", "1", "0")]
    tasks_csv = auditor.get(re.search(r'href="([^"]+)" id="csv-link"', page).group(1).replace("&amp;", "&")).text
    assert tasks_csv.startswith("body_id,body_type,task_kind,algorithm_version,")
    for lang, words in (("kk", ("Тоқтатылды", "Алгоритм нұсқасы", "Кешіктіріп хабарланды")),
                        ("ru", ("Прекращены", "Версия алгоритма", "Сообщено с опозданием"))):
        page = site_client(engine, "ministry_education", "auditor", lang).get("/audit").text
        assert all(f">{w}</th>" in page for w in words), lang
    assert "1-нұсқа — істер: 1" in site_client(engine, "ministry_education", "auditor", "kk").get("/audit").text
