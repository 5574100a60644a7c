"""D5 in a real browser: Swagger UI and ReDoc render from Qorgau's own files under its CSP, and the
browser asks no other host for anything (Debian's Chromium; skipped when it is not installed)."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.db]


@pytest.fixture(scope="module")
def chromium():
    from browser.conftest import CHROMIUM_ARGS, chromium_executable
    path = chromium_executable()
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, registry, directory, calendar):
    from app.api.server import ServerThread
    from app.web import create_site
    from states.store import open_engine
    engine = open_engine(f"sqlite:///{tmp_path_factory.mktemp('docs') / 'qorgau.sqlite'}", registry=registry,
                         directory=directory, calendar=calendar)
    with ServerThread(create_site(engine)) as s:
        yield s.url
    engine.db.dispose()


@pytest.mark.parametrize("path, ready", [("/api/v1/docs", ".opblock"), ("/api/v1/redoc", "[data-section-id]")])
def test_the_api_docs_render_from_qorgau_alone(chromium, server, path, ready):
    page = chromium.new_page()
    reached, problems = set(), []

    def network(route):  # every request that leaves the page (the CSP stops the others before this)
        reached.add(urlsplit(route.request.url).netloc)
        route.continue_() if urlsplit(route.request.url).netloc == urlsplit(server).netloc else route.abort()

    page.route("**/*", network)
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(server + path)
    page.wait_for_selector(ready, timeout=20000)
    page.wait_for_timeout(500)
    assert reached == {urlsplit(server).netloc}
    # The only thing the CSP had to stop: ReDoc's footer logo (an image on cdn.redoc.ly, in its bundle).
    refused = [p for p in problems if "Content Security Policy" in p]
    assert all("cdn.redoc.ly" in p for p in refused), refused
    assert not [p for p in problems if "Content Security Policy" not in p and "cdn.redoc.ly" not in p], problems
    page.close()
