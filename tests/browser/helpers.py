"""What the browser tests share: signing in and the accessibility check."""
from __future__ import annotations


def sign_in(page, live, token: str, lang: str = "en") -> None:
    page.goto(f"{live['url']}/lang/{lang}?next=/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
    assert "/login" not in page.url, page.content()


def serious_violations(page, live) -> list[dict]:
    """axe-core's serious and critical violations on the page as it stands (axe is served from
    /static/vendor, so the page's Content-Security-Policy allows it)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=f"{live['url']}/static/vendor/axe.min.js")
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]
