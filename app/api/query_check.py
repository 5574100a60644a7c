"""Query strings are checked before anything else: a parameter the operation does not take, or
one given twice, is refused with `invalid_data` (a typo such as `?overdu=true` would otherwise be
silently ignored).

    router = APIRouter(route_class=QueryCheckedRoute)

The check wraps each API route's handler instead of being an app-wide dependency: FastAPI resolves
a dependency on every request at a cost close to that of a whole inbox query."""
from __future__ import annotations

from fastapi.routing import APIRoute

from states.errors import RuleViolation


def _known_query(route) -> frozenset[str]:
    known = getattr(route, "_qorgau_query", None)
    if known is None:
        names, stack = set(), [route.dependant]
        while stack:
            dependant = stack.pop()
            names.update(p.alias for p in dependant.query_params)
            stack.extend(dependant.dependencies)
        known = frozenset(names)
        route._qorgau_query = known
    return known


def reject_unknown_query(request) -> None:
    """Raise `invalid_data` naming the first unknown or repeated query parameter of the request."""
    route = request.scope.get("route")
    if route is None or not request.scope.get("query_string"):
        return
    keys = [k for k, _ in request.query_params.multi_items()]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise RuleViolation("invalid_data", f"field {repeated[0]!r}: given more than once", field=repeated[0])
    unknown = sorted(set(keys) - _known_query(route))
    if unknown:
        allowed = ", ".join(sorted(_known_query(route))) or "none"
        raise RuleViolation("invalid_data", f"field {unknown[0]!r}: unknown query parameter (allowed: {allowed})",
                            field=unknown[0])


class QueryCheckedRoute(APIRoute):
    """An API route whose handler first refuses unknown or repeated query parameters."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def checked(request):
            reject_unknown_query(request)
            return await handler(request)
        return checked
