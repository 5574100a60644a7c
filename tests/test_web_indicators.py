"""The risk map's aggregates (states/indicators.py) against cases whose figures are known."""
from __future__ import annotations

from datetime import timedelta

import pytest

from states.clock import utcnow
from states.indicators import Figure, disclose, region_figures

pytestmark = pytest.mark.db
VR = {"form": "bullying", "channel": "school", "summary": "synthetic"}


def figures(engine, indicator, **kw):
    now = utcnow()
    with engine.reader() as conn:
        return region_figures(conn, engine.registry, engine.svc.directory, indicator, now=now,
                              start=kw.pop("start", now - timedelta(days=30)), end=kw.pop("end", now + timedelta(days=1)),
                              **kw)


def test_counts_per_region(engine):
    now = utcnow()
    a = engine.launch("violence-report", "KZ-75", "kz-75.school-1", VR, now=now - timedelta(days=6)).ref
    engine.launch("violence-report", "KZ-75", "kz-75.school-1", VR, now=now)
    closed = engine.launch("violence-report", "KZ-71", "kz-71.school-1", VR, now=now - timedelta(days=1)).ref
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
