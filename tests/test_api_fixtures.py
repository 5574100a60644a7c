"""Shared fixtures of the API tests (no tests here): a store with cases in two regions and a token
for every kind of caller, and the API over it."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from app.api import create_app
from states.clock import utcnow
from states.tokens import create_token

from factories import violence_report_data

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

# name -> (body, role): every role, regional and republic bodies, bound and unbound schools.
PRINCIPALS = {
    "coord_75": ("kz-75.education_department", "coordinator"),
    "coord_republic": ("ministry_education", "coordinator"),
    "school_75": ("kz-75.school-1", "agency"),
    "police_75": ("kz-75.police", "agency"),
    "hotline_75": ("kz-75.hotline", "agency"),
    "mvd": ("ministry_interior", "agency"),
    "school_11_unbound": ("kz-11.school-2", "agency"),
    "auditor": ("kz-75.akimat", "auditor"),
    "admin": ("government_office", "admin"),
}
CHILD_A = {"birth_date": "2014-03-01", "sex": "female", "given_name": "Aigerim-Synthetic",
           "family_name": "Testova", "address": "Synthetic street 1"}
CHILD_B = {"birth_date": "2013-05-02", "sex": "male", "given_name": "Daniyar-Synthetic"}
PERSONAL_MARKERS = ("Aigerim-Synthetic", "Testova", "Synthetic street", "Daniyar-Synthetic")


def bullying(school: str, child: dict | None = None, form: str = "bullying", now=None) -> dict:
    """violence-report launch data of the current version, detected an hour before `now`."""
    data = violence_report_data(now=now, form=form, summary="synthetic test report", school=school)
    if child:
        data["child"] = child
    return data


@dataclass
class World:
    engine: object
    app: object
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


def build_world(engine) -> World:
    """Case A (KZ-75, overdue tasks, child data), B (KZ-11, child data), C (KZ-75, fresh)."""
    now = utcnow()
    refs = {
        "A": engine.launch("violence-report", "KZ-75", "kz-75.school-1", bullying("kz-75.school-1", CHILD_A, "physical",
                                                                                    now - timedelta(days=3)),
                           now=now - timedelta(days=3)).ref,
        "B": engine.launch("violence-report", "KZ-11", "kz-11.school-1", bullying("kz-11.school-1", CHILD_B,
                                                                                    now=now - timedelta(hours=1)),
                           now=now - timedelta(hours=1)).ref,
        "C": engine.launch("violence-report", "KZ-75", "kz-75.school-1", bullying("kz-75.school-1", now=now), now=now).ref,
    }
    tokens = {name: create_token(engine.db, body, role, name)[0] for name, (body, role) in PRINCIPALS.items()}
    app = create_app(engine, base_url="https://qorgau.example.kz")
    return World(engine, app, TestClient(app), tokens, refs)


@pytest.fixture(name="world")
def world_fixture(engine) -> World:
    """The world of build_world on the test's store (import `world_fixture`; request `world`)."""
    w = build_world(engine)
    yield w
    w.client.close()
