"""The planner's two speed tricks give the same plans as the lookups they replace, and this test
fails when either stops mattering (docs/performance.md, "Migration": plan cases/s).

- `states/migration_plan.py` `_named_kinds`: each definition's named task kinds, worked out once by
  its content hash; `Definition.task_spec` walks every state, timer and trigger for each.
- `states/migration.py` `plan_selection`: the bindings of a region (and school) looked up once per
  plan, not with 13 directory lookups for each case.

Together they took `plan_one` from about 130 to 85 µs a case (2026-12-02, the 2-core VM). If the
definition or the directory answer as fast themselves (an index of their own), a trick costs more
than it saves: remove it, and its half of this test."""
from __future__ import annotations

import timeit
from datetime import timedelta

from states.access import operator
from states.binding import bind
from states.commands import Fire, Launch
from states.handling import Handler
from states.migration import Selection, case_views, plan_one, plan_selection
from states.migration_plan import _by_name, _declared, _named_kinds

from conftest import kz

T0 = kz(2026, 4, 6, 10)
SLOWER = 5  # each looked-up answer costs at least this many times the remembered one (about 30-50x today)


def test_the_named_kinds_are_those_the_definition_declares(registry) -> None:
    for d in registry:
        named = _named_kinds(d)
        for kind in [*d.spec.task_kinds, "plan_action:x1", "no_such_kind"]:
            assert (kind in named) == (d.task_spec(kind) is not None), (d.id, d.version, kind)
            if kind in named:
                assert _declared(d, kind) == _by_name(d, kind), (d.id, d.version, kind)


def test_a_plan_keeping_the_regions_bindings_plans_each_case_as_alone(engine) -> None:
    handler = Handler(engine)
    for region in ("KZ-75", "KZ-11"):
        school = engine.svc.directory.schools(region)[0]
        for form in ("bullying", "physical"):
            ref = handler.handle(Launch("violence-report", region, {"form": form, "channel": "school",
                                                                   "summary": "s", "school": school.id}, version=1),
                                 operator(school), now=T0).ref
            handler.handle(Fire(ref, "assess", {"immediate_danger": False, "perpetrator": "peer"}),
                           operator(school), now=T0 + timedelta(hours=1))
    now = T0 + timedelta(hours=2)
    together = plan_selection(engine, Selection("violence-report", 2), now).plans
    assert len(together) == 4
    with engine.reader() as conn:
        for plan, _ in together:
            case = engine.load_case(conn, plan.ref)
            alone = plan_one(engine, case, next(case_views(conn, [case])), Selection("violence-report", 2), now)
            assert (alone.effects, alone.bindings) == (plan.effects, plan.bindings)


def test_both_tricks_still_matter(registry, directory) -> None:
    d = registry.get("violence-report", 2)
    kind = "decide_bullying"
    walk = min(timeit.repeat(lambda: _by_name(d, kind), number=2000, repeat=5))
    index = min(timeit.repeat(lambda: _declared(d, kind), number=2000, repeat=5))
    assert walk > SLOWER * index, (f"Definition.task_spec and the walk over states cost {walk / index:.1f}x the "
                                   "index: remove _named_kinds")
    school = directory.schools("KZ-75")[0].id
    regions = {("KZ-75", school): bind(directory, "KZ-75", school)}
    lookup = min(timeit.repeat(lambda: bind(directory, "KZ-75", school), number=2000, repeat=5))
    kept = min(timeit.repeat(lambda: regions.get(("KZ-75", school)), number=2000, repeat=5))
    assert lookup > SLOWER * kept, f"bind costs {lookup / kept:.1f}x a kept answer: remove the regions memo"

