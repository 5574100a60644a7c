"""D1: `link` touches two cases, so the caller's scope is checked on both; a link is written once
per pair and never into a closed case; a case out of reach answers exactly like one that does not
exist, so references cannot be probed."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from states import tables as T

from test_api_fixtures import World, world_fixture  # noqa: F401

pytestmark = pytest.mark.db


def _link(world: World, ref: str, other: str, who: str = "school_75", version: int | None = None):
    version = version if version is not None else world.engine.case(ref).version
    return world.client.post(f"/api/v1/cases/{ref}/fire", headers=world.auth(who),
                             json={"trigger": "link", "version": version, "data": {"case": other}})


def _links(world: World) -> int:
    with world.engine.reader() as conn:
        return conn.execute(select(func.count()).select_from(T.case_links)
                            .where(T.case_links.c.relation == "linked")).scalar()


def test_a_school_cannot_link_its_case_into_another_regions_case(world: World):
    mine, theirs = world.refs["C"], world.refs["B"]  # KZ-75 and KZ-11
    before = world.engine.case(theirs)
    r = _link(world, mine, theirs)
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (422, "invalid_data", "case")
    after = world.engine.case(theirs)
    assert (after.version, after.head_hash) == (before.version, before.head_hash)  # nothing in KZ-11's history
    assert world.engine.case(mine).version == 1 and _links(world) == 0


def test_a_forbidden_reference_answers_exactly_like_an_unknown_one(world: World):
    mine = world.refs["C"]
    forbidden = _link(world, mine, world.refs["B"])
    unknown = _link(world, mine, "VR-11-999999")
    assert forbidden.status_code == unknown.status_code
    strip = lambda body, ref: {**body, "message": body["message"].replace(ref, "REF")}  # noqa: E731
    assert strip(forbidden.json(), world.refs["B"]) == strip(unknown.json(), "VR-11-999999")


def test_the_api_scope_is_checked_on_the_other_case_too(world: World):
    """A supervisor body (the ministry of the interior) may fire on cases below it; the scope check
    the API brings runs on the named case as well as on the one in the URL."""
    engine = world.engine
    seen = []

    def check(case):
        seen.append(case.ref)
        if case.ref == world.refs["A"]:
            raise PermissionError("out of scope")

    from states.errors import RuleViolation
    with pytest.raises(RuleViolation) as refused:
        engine.fire(world.refs["C"], "link", "kz-75.school-1", {"case": world.refs["A"]}, check=check)
    assert refused.value.code == "invalid_data" and seen == [world.refs["C"], world.refs["A"]]


def test_a_link_is_written_once_per_pair(world: World):
    mine, other = world.refs["C"], world.refs["A"]
    assert _link(world, mine, other).status_code == 200
    version = world.engine.case(other).version
    again = _link(world, mine, other)
    assert (again.status_code, again.json()["code"]) == (409, "guard_failed")
    back = _link(world, other, mine)
    assert (back.status_code, back.json()["code"]) == (409, "guard_failed")
    assert world.engine.case(other).version == version and _links(world) == 2


def test_nothing_is_linked_into_a_closed_case(world: World):
    engine, mine, other = world.engine, world.refs["C"], world.refs["A"]
    engine.fire(other, "withdraw", "kz-75.education_department", {"reason": "reported twice"})
    closed = engine.case(other)
    assert closed.closed_at is not None
    r = _link(world, mine, other)
    assert (r.status_code, r.json()["code"]) == (409, "guard_failed")
    assert engine.case(other).version == closed.version and _links(world) == 0


def test_the_web_form_cannot_link_into_another_regions_case(world: World):
    from app.web import create_site
    from test_web import csrf_of, sign_in
    site = create_site(world.engine, base_url="http://testserver")
    client = sign_in(site, world.engine, "kz-75.school-1", "agency")
    mine, theirs = world.refs["C"], world.refs["B"]
    before = world.engine.case(theirs).version
    csrf = csrf_of(client.get("/inbox").text)
    with world.engine.reader() as conn:
        task = conn.execute(select(T.tasks.c.key).where(T.tasks.c.case_id == world.engine.case(mine).id,
                                                        T.tasks.c.status == "open")).scalars().first()
    r = client.post(f"/cases/{mine}/fire", data={"csrf": csrf, "trigger": "link", "version": "1", "task": task,
                                                  "d.case": theirs})
    assert r.status_code == 422
    assert world.engine.case(theirs).version == before and world.engine.case(mine).version == 1
