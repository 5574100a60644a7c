"""Synthetic cases for the browser tests, the screenshots and local demos of the web pages.

Nothing here is real: case summaries are invented and no child's personal data is stored. `seed`
walks a few cases of every algorithm through time with the engine (so their histories verify) and
returns the tokens of one user per role.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from states.access import SYSTEM, operator
from states.clock import utcnow
from states.commands import Fire, Launch
from states.handling import Handler
from states.tokens import create_token

VR = {"form": "bullying", "channel": "school", "summary": "repeated name-calling in class 5B (synthetic)"}
KZ = timezone(timedelta(hours=5))
REGIONS = ("KZ-75", "KZ-71", "KZ-79", "KZ-35", "KZ-61", "KZ-19", "KZ-10", "KZ-55", "KZ-23", "KZ-63")


@dataclass
class Demo:
    tokens: dict[str, str] = field(default_factory=dict)  # user name -> token secret
    refs: dict[str, str] = field(default_factory=dict)     # story name -> case reference


def vr(at: datetime, detected_before: timedelta = timedelta(hours=1), **overrides) -> dict:
    """violence-report launch data (version 2) for a report launched at `at`: detected
    `detected_before` earlier (more than 24 h is a late report), reported by a teacher."""
    detected = (at - detected_before).astimezone(KZ).replace(second=0, microsecond=0)
    return {**VR, "detected_at": detected.isoformat(), "reporter": "teacher", **overrides}


def _caller(engine, body_id: str):
    return SYSTEM if body_id == "system" else operator(engine.svc.directory.get(body_id))


def _launch(engine, algorithm: str, region: str, actor: str, data: dict, *, now: datetime):
    """Seed a case as the pages would, through the command handler (trusted: demo data)."""
    return Handler(engine).handle(Launch(algorithm, region, data), _caller(engine, actor), now=now)


def _fire(engine, ref: str, trigger: str, actor: str, data: dict, *, now: datetime):
    return Handler(engine).handle(Fire(ref, trigger, data), _caller(engine, actor), now=now)


def _token(engine, demo: Demo, name: str, body: str, role: str) -> None:
    secret, _ = create_token(engine.db, body, role, label=f"demo: {name}")
    demo.tokens[name] = secret


def seed(engine, now: datetime | None = None, *, spread: bool = True) -> Demo:
    """Cases and tokens for a demo: an overdue bullying report and a fresh one in Almaty, a case
    walked to monitoring, a suicide attempt, cases across regions for the map, plan reports."""
    now = now or utcnow()
    demo = Demo()
    school = engine.svc.directory.schools("KZ-75")[0].id
    # Almaty: one task long overdue (and escalated), one fresh.
    late = _launch(engine, "violence-report", "KZ-75", school, vr(now - timedelta(days=9)), now=now - timedelta(days=9)).ref
    demo.refs["overdue"] = late
    fresh = _launch(engine, "violence-report", "KZ-75", school,
                          vr(now - timedelta(hours=2), form="cyberbullying", channel="online", reporter="parent",
                             summary="insulting messages in a class chat (synthetic)"),
                          now=now - timedelta(hours=2)).ref
    demo.refs["fresh"] = fresh
    # A case with a history to replay: assessed, decided, planned, in monitoring.
    t0 = now - timedelta(days=20)
    walked = _launch(engine, "violence-report", "KZ-75", school, vr(t0), now=t0).ref
    # version 2: the police's check and the school's prevention council decide (V3, V5)
    steps = [("assess", "kz-75.school-1", {"immediate_danger": False, "perpetrator": "peer"}, 2),
             ("police_check_done", "kz-75.police", {"outcome": "no_offence"}, 5),
             ("bullying_recognised", "kz-75.school-1", {"rehabilitation_consent": True, "mediation": True}, 30),
             ("plan_approved", "kz-75.school-1", {"measures": ["weekly talks with the school psychologist",
                                                              "class hour on respect"],
                                                 "intra_school_registration": False}, 60)]
    for trigger, actor, data, hours in steps:
        _fire(engine, walked, trigger, actor, data, now=t0 + timedelta(hours=hours))
    demo.refs["walked"] = walked
    demo.refs["walked_start"] = t0.isoformat()
    # A suicide attempt (routes to medical care) in Almaty.
    demo.refs["attempt"] = _launch(engine, "suicide-response", "KZ-75", "kz-75.health",
                                         {"kind": "attempt", "channel": "health",
                                          "summary": "admitted to the emergency department (synthetic)"},
                                         now=now - timedelta(days=3)).ref
    # Another region's case, for refusals.
    demo.refs["astana"] = _launch(engine, "violence-report", "KZ-71", engine.svc.directory.schools("KZ-71")[0].id,
                                        vr(now - timedelta(days=1)), now=now - timedelta(days=1)).ref
    if spread:  # cases across regions, so the map has something to show
        for i, region in enumerate(REGIONS):
            for j in range((len(REGIONS) - i) % 7 + 1):
                school_id = engine.svc.directory.schools(region)[0].id
                at = now - timedelta(days=j * 2 + i % 3, hours=i)
                # every third report in a region reached the system days after detection (late, V2)
                _launch(engine, "violence-report", region, school_id,
                              vr(at, timedelta(days=3) if j % 3 == 2 else timedelta(hours=1),
                                 form=("bullying", "physical", "psychological")[j % 3]),
                              now=at)
        for region in ("KZ-61", "KZ-79", "KZ-35"):
            _launch(engine, "suicide-response", region, engine.svc.directory.region_body(region, "health").id,
                          {"kind": "attempt", "channel": "health", "summary": "synthetic"}, now=now - timedelta(days=5))
    # Plan reports of the current quarter (after the plan's span, its last quarter): one accepted, one
    # submitted, others collecting.
    local = now.astimezone(__import__("states.calendar", fromlist=["KZ_TZ"]).KZ_TZ)
    period = f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    from algorithms.catalogue import load_catalogue
    span = load_catalogue().span
    if local.date() > span.end:  # version 2 (R1): only periods of the plan's span are reported
        period = f"{span.end.year}-Q{(span.end.month - 1) // 3 + 1}"
    for executor in ("ministry_health", "ministry_interior", "kz-75.akimat"):
        try:
            _launch(engine, "plan-reporting", "KZ-71", "system", {"period": period, "executor": executor},
                          now=now - timedelta(days=10))
        except Exception:  # already there (a second seed of the same store)
            pass
    from states.sweep import sweep
    sweep(engine, now)  # take the escalation steps due by now: overdue, escalated, critical
    _token(engine, demo, "school", school, "agency")
    _token(engine, demo, "department", "kz-75.education_department", "agency")
    # The regional education department coordinates: it may launch every algorithm of the region in
    # version 2 too, where the akimat supervises only the commission and the interagency group (C1).
    _token(engine, demo, "coordinator", "kz-75.education_department", "coordinator")
    _token(engine, demo, "auditor", "ministry_education", "auditor")
    _token(engine, demo, "other_school", "kz-71.school-1", "agency")
    return demo
