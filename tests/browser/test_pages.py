"""The web pages in a real browser (Debian's Chromium via Playwright) against a live server."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from states.clock import utcnow

from factories import KZ, violence_report_data

from .helpers import serious_violations, sign_in

pytestmark = pytest.mark.browser


def test_an_agency_user_fires_the_overdue_task_first_through_its_form(page, live):
    engine, demo = live["engine"], live["demo"]
    sign_in(page, live, demo.tokens["school"])
    assert page.url.endswith("/inbox")
    first = page.locator("#inbox tbody tr").first
    assert first.get_attribute("data-ref") == demo.refs["overdue"]
    assert "overdue" in first.inner_text()
    # due time in Kazakhstan time and how late it is
    assert re.search(r"\d\d\.\d\d\.\d{4} \d\d:\d\d", first.inner_text())
    first.get_by_role("link", name=re.compile("Act")).click()
    page.wait_for_selector("#task-form")
    page.get_by_role("radio", name="No").check()
    page.select_option("#f-perpetrator", "peer")
    page.click("#task-form button[type=submit]")
    page.wait_for_selector(".flash")
    assert page.locator("#case-state").inner_text() == "Bullying review"
    assert engine.case(demo.refs["overdue"]).state == "bullying_review"


def test_a_field_error_appears_beside_its_field(page, live):
    engine, demo = live["engine"], live["demo"]
    at = utcnow() - timedelta(hours=1)
    ref = engine.launch("violence-report", "KZ-75", "kz-75.school-1",
                        violence_report_data(now=at, form="physical", summary="synthetic"), now=at).ref
    sign_in(page, live, demo.tokens["school"])
    page.goto(f"{live['url']}/cases/{ref}/tasks/t1")
    page.get_by_role("radio", name="Yes").check()
    page.click("#task-form button[type=submit]")  # perpetrator left out
    error = page.locator("#f-perpetrator-error")
    error.wait_for()
    assert "Fill in this field" in error.inner_text()
    assert page.locator("#f-perpetrator").get_attribute("aria-invalid") == "true"
    # beside its field: the error sits right under the select, in the same field block
    box_field, box_error = page.locator("#f-perpetrator").bounding_box(), error.bounding_box()
    assert 0 <= box_error["y"] - (box_field["y"] + box_field["height"]) < 40
    assert engine.case(ref).state == "reported"


def test_a_coordinator_launches_a_case(page, live):
    engine, demo = live["engine"], live["demo"]
    sign_in(page, live, demo.tokens["coordinator"])
    assert page.url.endswith("/dashboard")
    page.select_option("#launch-algorithm", "violence-report")
    page.click("#algorithm-picker button")
    page.wait_for_selector("#launch-form")
    page.select_option("#f-form", "cyberbullying")
    page.select_option("#f-channel", "online")
    page.fill("#f-summary", "threats in a group chat (synthetic)")
    page.select_option("#f-school", "kz-75.school-2")
    # detected three hours ago, typed on the Kazakhstan clock into the datetime-local input
    detected = (utcnow() - timedelta(hours=3)).astimezone(KZ).replace(second=0, microsecond=0)
    assert page.locator("#f-detected-at").get_attribute("type") == "datetime-local"
    page.fill("#f-detected-at", detected.strftime("%Y-%m-%dT%H:%M"))
    page.select_option("#f-reporter", "psychologist")
    page.click("#launch-form button[type=submit]")
    page.wait_for_selector(".flash")
    ref = re.search(r"/cases/([A-Z]{2}-\d\d-\d+)", page.url).group(1)
    assert page.locator("#case-state").inner_text() == "Reported"
    case = engine.case(ref)
    assert case.bindings["school"] == "kz-75.school-2" and case.data["reporter"] == "psychologist"
    assert case.data["detected_at"] == detected.isoformat()


def test_an_auditor_moves_the_replay_to_a_past_moment(page, live):
    demo = live["demo"]
    ref = demo.refs["walked"]
    sign_in(page, live, demo.tokens["auditor"])
    page.goto(f"{live['url']}/cases/{ref}")
    assert page.locator("#case-state").inner_text() == "Monitoring"
    slider = page.locator("#replay-slider")
    slider.focus()
    for _ in range(10):
        page.keyboard.press("ArrowLeft")  # to the first event: the launch
    assert page.locator("#replay-at").input_value() == page.locator("#replay-at option").first.get_attribute("value")
    page.click("#replay-form button[type=submit]")
    page.wait_for_selector("#replay-banner")
    assert page.locator("#case-state").inner_text() == "Reported"
    page.select_option("#replay-at", index=1)  # after the assessment
    page.click("#replay-form button[type=submit]")
    page.wait_for_selector("#replay-banner")
    assert page.locator("#case-state").inner_text() == "Bullying review"


def test_the_map_has_twenty_regions_and_clicking_one_lists_its_cases(page, live):
    demo = live["demo"]
    sign_in(page, live, demo.tokens["auditor"])
    page.goto(f"{live['url']}/map")
    tiles = page.locator("#cartogram a.tile")
    assert tiles.count() == 20
    assert len(set(tiles.evaluate_all("els => els.map(e => e.dataset.region)"))) == 20
    almaty = page.locator("a.tile[data-region=KZ-75]")
    almaty.hover()
    panel = page.locator("#region-panel")
    assert panel.is_visible() and "Almaty" in panel.inner_text()
    page.locator("a.tile[data-region=KZ-71]").focus()
    assert "Astana" in panel.inner_text()
    page.select_option("#indicator", "overdue_tasks")
    page.click("#indicator-form button[type=submit]")
    page.wait_for_url(re.compile("indicator=overdue_tasks"))
    assert page.locator("#legend li").count() >= 2
    page.locator("a.tile[data-region=KZ-75]").click()
    page.wait_for_selector("#case-list")
    assert page.locator("#list-region").inner_text() == "Almaty"
    refs = page.locator("#case-list tbody a").all_inner_texts()
    assert refs and all(re.match(r"[A-Z]{2}-75-", r) for r in refs)


def test_an_agency_user_opening_another_bodys_case_by_url_is_refused(page, live):
    demo = live["demo"]
    sign_in(page, live, demo.tokens["school"])
    response = page.goto(f"{live['url']}/cases/{demo.refs['astana']}")
    assert response.status == 403
    assert "You may not see this page" in page.content()
    assert page.locator("#case-state").count() == 0


def test_a_form_posted_without_its_csrf_token_is_refused(page, live):
    engine, demo = live["engine"], live["demo"]
    ref = demo.refs["fresh"]
    sign_in(page, live, demo.tokens["school"])
    page.goto(f"{live['url']}/cases/{ref}/tasks/t1")
    version = engine.case(ref).version
    page.evaluate("document.querySelector('#task-form input[name=csrf]').remove()")
    page.get_by_role("radio", name="No").check()
    page.select_option("#f-perpetrator", "peer")
    with page.expect_response(re.compile(r"/fire$")) as info:
        page.click("#task-form button[type=submit]")
    assert info.value.status == 403
    assert "CSRF" in page.content()
    assert engine.case(ref).version == version


PAGES = {
    "school": ["/inbox", "/cases/{fresh}/tasks/t1", "/cases/{fresh}", "/cases", "/map"],
    "coordinator": ["/dashboard?launch=suicide-response", "/map?indicator=critical_cases", "/audit"],
    "auditor": ["/audit", "/cases/{walked}", "/map?indicator=median_reaction", "/cases?region=KZ-75"],
}


@pytest.mark.parametrize("width", [1280, 390])
def test_no_serious_accessibility_violation_on_any_page(browser, live, width):
    demo = live["demo"]
    found = {}
    ctx = browser.new_context(locale="ru-RU", viewport={"width": width, "height": 900})
    try:
        page = ctx.new_page()
        page.goto(f"{live['url']}/login")
        found["/login"] = serious_violations(page, live)
        for user, urls in PAGES.items():
            ctx.clear_cookies()
            sign_in(page, live, demo.tokens[user], lang="kk" if user == "coordinator" else "ru")
            for url in urls:
                page.goto(live["url"] + url.format(**demo.refs))
                if "/cases/VR" in url or "{walked}" in url:
                    page.wait_for_selector("pre.mermaid[data-rendered]")
                found[f"{user} {url}"] = serious_violations(page, live)
    finally:
        ctx.close()
    bad = {k: v for k, v in found.items() if v}
    assert not bad, bad


def test_the_diagram_is_drawn_in_the_page_with_the_current_state_highlighted(page, live):
    demo = live["demo"]
    sign_in(page, live, demo.tokens["auditor"])
    page.goto(f"{live['url']}/cases/{demo.refs['walked']}")
    page.wait_for_selector("pre.mermaid[data-rendered] svg")
    svg = page.locator("pre.mermaid svg")
    assert "Monitoring" in svg.text_content()
    active = page.locator("pre.mermaid svg g.s_active")
    assert active.count() == 1 and "Monitoring" in active.text_content()
