"""What the HTTP API and the command line show beyond the read models' data: the address of a case
(QORGAU_BASE_URL + /cases/REF), an inbox task's lateness or time left in English words, and paging
through a paged read model. The read models themselves (`states.queries`) return data only."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Iterable

from sqlalchemy import Connection

from notifications.context import default_base_url
from states import queries
from states.queries import EVERYTHING, Scope


def case_link(base_url: str | None, ref: str) -> str:
    """The address a notification links to (`base_url`, default QORGAU_BASE_URL, + /cases/REF)."""
    if base_url is None:
        base_url = default_base_url()
    return f"{base_url.rstrip('/')}/cases/{ref}"


def duration_text(seconds: float) -> str:
    """A short human duration: '2 d 3 h', '5 h 10 min', '12 min'."""
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def list_cases(conn: Connection, registry, scope: Scope = EVERYTHING, *, base_url: str | None = None,
               **filters: Any) -> dict[str, Any]:
    """`states.queries.list_cases`, each case with its `link`."""
    page = queries.list_cases(conn, registry, scope, **filters)
    for item in page["items"]:
        item["link"] = case_link(base_url, item["ref"])
    return page


def case_detail(conn: Connection, ref: str, registry, directory, *, base_url: str | None = None,
                **options: Any) -> dict[str, Any]:
    """`states.queries.case_detail` with the case's `link` (after its reference)."""
    detail = queries.case_detail(conn, ref, registry, directory, **options)
    return {"ref": detail["ref"], "link": case_link(base_url, detail["ref"]), **detail}


def inbox(conn: Connection, body_id: str, registry, directory, *, base_url: str | None = None,
          now: datetime | None = None, **options: Any) -> dict[str, Any]:
    """`states.queries.inbox`, each case with its `link` and each task with how late it is
    (`late_by`) or how long it has left (`time_left`)."""
    page = queries.inbox(conn, body_id, registry, directory, now=now, **options)
    for item in page["items"]:
        item["case"]["link"] = case_link(base_url, item["case"]["ref"])
        task, left = item["task"], item["task"]["seconds_left"]
        task["late_by"] = duration_text(left) if task["overdue"] else None
        task["time_left"] = duration_text(left) if not task["overdue"] else None
    return page


def iter_pages(fetch: Callable[[int, int], dict[str, Any]], page_size: int = 200) -> Iterable[dict[str, Any]]:
    """Pages of a paged read model (`fetch(limit, offset)`), until all `total` items are seen."""
    offset = 0
    while True:
        page = fetch(page_size, offset)
        yield page
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return
