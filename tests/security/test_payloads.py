"""What enters a case through its data: no IIN in free text however it is written, no NUL, no
coerced JSON types, an IIN that agrees with the child's birth date and sex (D4, D7, D10, and the
child checks of issue 14)."""
from __future__ import annotations

import pytest

from states.errors import RuleViolation
from states.iin import looks_like_iin

from test_api_fixtures import World, bullying, world_fixture  # noqa: F401

pytestmark = pytest.mark.db

# 150312501235 is no one's: the digits only have to look like an IIN.
DISGUISED_IINS = [
    "150312501235",
    "15 03 12  50 12 35",
    "15.03.12.50.12.35",
    "150312/501235",
    "150312\u200b501235",           # zero-width space between the halves
    "15\u00a003\u202f12 50-12_35",  # no-break spaces, a dash, an underscore
    "\uff11\uff15\uff10\uff13\uff11\uff12\uff15\uff10\uff11\uff12\uff13\uff15",  # full-width digits
    "1 5 0 3 1 2 5 0 1 2 3 5",
    "child 150312\u2060501235 from class 5B",  # word joiner
]


@pytest.mark.parametrize("text", DISGUISED_IINS)
def test_a_disguised_iin_in_free_text_is_refused_by_the_engine(engine, text):
    with pytest.raises(RuleViolation) as refused:
        engine.launch("violence-report", "KZ-75", "kz-75.school-1",
                      {**bullying("kz-75.school-1"), "summary": f"reported: {text}"})
    assert (refused.value.code, refused.value.field) == ("invalid_data", "summary")


@pytest.mark.parametrize("text", ["name-calling in class 5B", "3 pupils, 2 teachers, room 12",
                                  "a phone number 8 701 123 45 67", "case VR-75-000001"])
def test_ordinary_text_with_numbers_is_not_taken_for_an_iin(text):
    assert not looks_like_iin(text)


def test_a_nul_character_is_refused_by_the_engine_naming_the_field(engine):
    with pytest.raises(RuleViolation) as refused:
        engine.launch("violence-report", "KZ-75", "kz-75.school-1",
                      {**bullying("kz-75.school-1"), "summary": "before\x00after"})
    assert (refused.value.code, refused.value.field) == ("invalid_data", "summary")


def test_version_true_is_not_version_1(world: World):
    r = world.client.post(f"/api/v1/cases/{world.refs['C']}/fire", headers=world.auth("school_75"),
                          json={"trigger": "assess", "version": True,
                                "data": {"immediate_danger": False, "perpetrator": "peer"}})
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (422, "invalid_data", "version")


@pytest.mark.parametrize("value", ["no", "false", 0, None])
def test_immediate_danger_must_be_a_json_boolean(world: World, value):
    r = world.client.post(f"/api/v1/cases/{world.refs['C']}/fire", headers=world.auth("school_75"),
                          json={"trigger": "assess", "version": 1,
                                "data": {"immediate_danger": value, "perpetrator": "peer"}})
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (422, "invalid_data", "immediate_danger")


def test_an_integer_field_refuses_true_and_text(world: World, engine):
    launch_fields = engine.registry.get("violence-report").spec.launch.data
    from states.payloads import build_model
    from pydantic import ValidationError
    specs = {n: s for n, s in launch_fields.items() if s.type == "int"}
    if not specs:  # the strictness is in the one place every int field is built
        from algorithms.schema import FieldSpec
        specs = {"n": FieldSpec(type="int", required=True)}
    model = build_model("strict_ints", specs)
    name = next(iter(specs))
    for bad in (True, "3", 3.0):
        with pytest.raises(ValidationError):
            model.model_validate({name: bad})


def _child_launch(world: World, child: dict):
    return world.client.post("/api/v1/cases", headers=world.auth("school_75"), json={
        "algorithm": "violence-report", "region": "KZ-75", "data": bullying("kz-75.school-1", child)})


# 1503125 ... : born 2015-03-12, 7th digit 5 (2000s, male); 6 would be female.
def _iin(born: str, sex: str) -> str:
    from datetime import date
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from test_iin import make_iin
    for serial in range(1, 50):
        iin = make_iin(date.fromisoformat(born), "m" if sex == "male" else "f", serial)
        if iin:
            return iin
    raise AssertionError("no synthetic IIN")


def test_an_iin_that_contradicts_the_birth_date_is_refused(world: World):
    r = _child_launch(world, {"birth_date": "2014-03-01", "sex": "female", "iin": _iin("2013-03-01", "female")})
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (422, "invalid_data", "child.iin")
    assert "birth date" in r.json()["message"]


def test_an_iin_that_contradicts_the_sex_is_refused(world: World):
    r = _child_launch(world, {"birth_date": "2014-03-01", "sex": "female", "iin": _iin("2014-03-01", "male")})
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (422, "invalid_data", "child.iin")
    assert "sex" in r.json()["message"]


def test_an_iin_that_agrees_with_the_child_is_accepted(world: World):
    r = _child_launch(world, {"birth_date": "2014-03-01", "sex": "female", "iin": _iin("2014-03-01", "female")})
    assert r.status_code == 201, r.text


def test_an_unknown_field_inside_child_names_the_childs_fields(world: World):
    r = _child_launch(world, {"birth_date": "2014-03-01", "sex": "female", "nickname": "x"})
    body = r.json()
    assert (r.status_code, body["code"], body["field"]) == (422, "invalid_data", "child.nickname")
    assert "birth_date" in body["message"] and "given_name" in body["message"]
    assert "channel" not in body["message"] and "summary" not in body["message"]


def test_a_token_label_holding_an_iin_is_refused(engine):
    from states.tokens import TokenError, create_token
    with pytest.raises(TokenError) as refused:
        create_token(engine.db, "kz-75.school-1", "agency", "psychologist, pupil 15.03.12.50.12.35")
    assert refused.value.field == "label"
