"""Browser tests: Debian's Chromium driven by Playwright's Python package (never a browser
download), against a real uvicorn server on 127.0.0.1 with the pages and the API. One server, one
store and one browser per session keep the suite fast; each test gets a fresh browser context.

Chromium missing is a failure that says how to install it, unless QORGAU_SKIP_BROWSER=1 is set.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QORGAU_SESSION_SECRET", "browser-test-session-secret")

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
AXE = Path(__file__).resolve().parents[2] / "app" / "web" / "static" / "vendor" / "axe.min.js"


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives Debian's Chromium through Playwright against a live server")


def chromium_executable() -> str | None:
    """QORGAU_CHROMIUM when set (only that), else Debian's /usr/bin/chromium or `chromium` on PATH."""
    if os.environ.get("QORGAU_CHROMIUM"):
        return os.environ["QORGAU_CHROMIUM"] if Path(os.environ["QORGAU_CHROMIUM"]).exists() else None
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = chromium_executable()
    if path is not None:
        return path
    if os.environ.get("QORGAU_SKIP_BROWSER") == "1":
        pytest.skip("QORGAU_SKIP_BROWSER=1: browser tests skipped on request")
    pytest.fail("Chromium is not installed: the browser tests need Debian's Chromium at /usr/bin/chromium. "
                "Install it with `apt-get install chromium` (never `playwright install`), or set "
                "QORGAU_SKIP_BROWSER=1 to skip these tests explicitly.", pytrace=False)


@pytest.fixture(scope="package")
def live(tmp_path_factory, registry, directory, calendar):
    """A uvicorn server with the API and the pages over a seeded SQLite store."""
    from app.api.server import ServerThread
    from app.web import create_site
    from app.web.demo_data import seed
    from states.store import open_engine

    path = tmp_path_factory.mktemp("web") / "qorgau.sqlite"
    engine = open_engine(f"sqlite:///{path}", registry=registry, directory=directory, calendar=calendar)
    demo = seed(engine)
    app = create_site(engine)
    with ServerThread(app) as server:
        yield {"url": server.url, "engine": engine, "demo": demo}
    engine.db.dispose()


@pytest.fixture(scope="package")
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("The browser tests need Playwright's Python package: `.venv/bin/pip install playwright` "
                    "(the package only; never `playwright install`).", pytrace=False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    return context.new_page()
