"""A synthetic demo case for `qorgau serve`: no real child, short of nothing but real deadlines."""
from __future__ import annotations


def launch_demo_case(engine) -> str:
    school = engine.svc.directory.schools("KZ-75")[0]
    result = engine.launch("violence-report", "KZ-75", school.id, {
        "form": "bullying", "channel": "school",
        "summary": "Demo (synthetic): repeated name-calling in class 5B reported by the class teacher.",
    })
    return result.ref
