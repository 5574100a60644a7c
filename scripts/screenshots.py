"""Screenshots of every web page at desktop and phone width, into docs/screenshots/ (`make screenshots`).

A synthetic store is seeded in a temporary folder, the pages are served on a free loopback port and
Debian's Chromium (/usr/bin/chromium, or QORGAU_CHROMIUM) takes each page through Playwright's
Python package. Nothing is downloaded. Usage: .venv/bin/python scripts/screenshots.py [--lang ru]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QORGAU_SESSION_SECRET", "screenshots-only")
os.environ.setdefault("QORGAU_MASTER_KEY", "c2NyZWVuc2hvdHMtb25seS1tYXN0ZXIta2V5LTMyYnk=")

WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
# name -> (user, path); {ref} placeholders from the demo's stories
PAGES = [
    ("login", None, "/login"),
    ("inbox", "school", "/inbox"),
    ("task-form", "school", "/cases/{fresh}/tasks/t1"),
    ("case", "auditor", "/cases/{walked}"),
    ("case-replay", "auditor", "/cases/{walked}?at={walked_first}"),
    ("dashboard", "coordinator", "/dashboard?launch=violence-report"),
    ("cases", "coordinator", "/cases"),
    ("map", "auditor", "/map"),
    ("map-overdue", "auditor", "/map?indicator=overdue_tasks"),
    ("audit", "auditor", "/audit"),
]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", default="ru", choices=["kk", "ru", "en"])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    chromium = os.environ.get("QORGAU_CHROMIUM") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        print("Chromium is not installed: apt-get install chromium", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    from app.api.server import ServerThread
    from app.web import create_site
    from app.web.demo_data import seed
    from app.web.render import local_input
    from states.clock import parse_iso
    from states.store import open_engine

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(f"sqlite:///{tmp}/qorgau.sqlite")
        demo = seed(engine)
        refs = dict(demo.refs)
        refs["walked_first"] = local_input(parse_iso(refs["walked_start"]))
        with ServerThread(create_site(engine)) as server, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
            for width_name, (w, h) in WIDTHS.items():
                ctx = browser.new_context(viewport={"width": w, "height": h}, device_scale_factor=1)
                page = ctx.new_page()
                user_now = None
                for name, user, path in PAGES:
                    if user != user_now:
                        ctx.clear_cookies()
                        page.goto(f"{server.url}/lang/{args.lang}?next=/login")
                        if user:
                            page.fill("#token", demo.tokens[user])
                            page.click("button[type=submit]")
                            page.wait_for_load_state("domcontentloaded")
                        user_now = user
                    page.goto(server.url + path.format(**refs))
                    if "/cases/VR" in page.url and "/tasks/" not in page.url:
                        page.wait_for_selector("pre.mermaid[data-rendered]", timeout=15000)
                    target = out / f"{name}-{width_name}.png"
                    page.screenshot(path=str(target), full_page=True)
                    print(target.relative_to(ROOT) if target.resolve().is_relative_to(ROOT) else target)
                ctx.close()
            browser.close()
        engine.db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
