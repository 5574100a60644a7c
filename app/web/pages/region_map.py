"""The risk map: one indicator per region on a tile cartogram, small counts hidden per reader, and
the indicator figures' cache (this page's alone)."""
from __future__ import annotations

import os
import threading
import time
import weakref
from datetime import date, datetime, time as dtime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from states.access import Principal, scope_for
from states.calendar import KZ_TZ
from states.clock import utcnow
from states.indicators import INDICATORS, WINDOW_INDICATORS, disclose, region_figures, scale_value
from states.queries import descendants

from .. import cartogram, i18n
from ..render import render
from .context import Ctx, SignedIn
from .params import period_params

router = APIRouter(include_in_schema=False)

MAP_CACHE_ENV = "QORGAU_MAP_CACHE_SECONDS"
_MAP_CACHE: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()
_MAP_LOCK = threading.Lock()


def access_regions(principal: Principal, directory) -> frozenset[str]:
    """The regions in which the principal may read cases (for small-count suppression on the map)."""
    all_regions = frozenset(directory.regions)
    scope = scope_for(principal, directory)
    if scope.regions is None and scope.bodies is None:
        return all_regions
    if scope.regions is not None:
        return frozenset(scope.regions)
    regions = set()
    for body_id in descendants(directory, principal.body_id):
        body = directory.find(body_id)
        if body is not None and body.region is not None:
            regions.add(body.region)
    return frozenset(regions)


def _window(request: Request, now: datetime) -> tuple[date, date]:
    today = now.astimezone(KZ_TZ).date()
    return period_params(request, (today.replace(day=1) - timedelta(days=365)).replace(day=1),
                         today + timedelta(days=1))


def _figures(engine, indicator: str, kw: dict[str, Any]):
    with engine.reader() as conn:
        return region_figures(conn, engine.registry, engine.svc.directory, indicator, **kw)


async def _cached_figures(ctx: Ctx, indicator: str, key: tuple, kw: dict[str, Any]):
    """The map's aggregates, kept for QORGAU_MAP_CACHE_SECONDS (default 30; 0: always fresh). They
    are the same for every reader (small counts are hidden per reader afterwards), and a risk map a
    few seconds old is as good as a fresh one, while a scan of every case is not free. A dict with
    times rather than a functools cache: entries expire, and an engine's go with it (weak keys)."""
    ttl = float(os.environ.get(MAP_CACHE_ENV, "30") or 0)
    if ttl <= 0:
        return await ctx.read(_figures, ctx.engine, indicator, kw)
    with _MAP_LOCK:
        cache = _MAP_CACHE.setdefault(ctx.engine, {})
        hit = cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < ttl:
        return hit[1]
    figures = await ctx.read(_figures, ctx.engine, indicator, kw)
    with _MAP_LOCK:
        if len(cache) > 256:
            cache.clear()
        cache[key] = (time.monotonic(), figures)
    return figures


def _range_label(lo: float, hi: float, is_count: bool, first: bool) -> str:
    if is_count:
        a, b = int(lo) + (0 if first else 1), int(hi)
        return f"{a}" if a >= b else f"{a}–{b}"
    return f"{lo:.1f}–{hi:.1f}"


@router.get("/map")
async def map_page(ctx: SignedIn) -> Response:
    q, lang, now = ctx.request.query_params, ctx.lang, utcnow()
    indicator = q.get("indicator") if q.get("indicator") in INDICATORS else "open_cases"
    algorithm = q.get("algorithm") if q.get("algorithm") in ctx.registry.ids() else None
    body_type = q.get("agency_type") if q.get("agency_type") in i18n.body_types() else "police"
    start, end = _window(ctx.request, now)
    start_dt, end_dt = datetime.combine(start, dtime(0), KZ_TZ), datetime.combine(end, dtime(0), KZ_TZ)
    figures = await _cached_figures(ctx, indicator, (indicator, algorithm, start, end, body_type), dict(
        now=now, algorithm=algorithm, start=start_dt, end=end_dt, body_type=body_type))
    access = access_regions(ctx.principal, ctx.directory)
    scaled = {r: scale_value(figures.get(r), r in access) for r in ctx.directory.regions}
    suppressed = {r for r in ctx.directory.regions
                  if figures.get(r) is not None and disclose(figures.get(r), r in access) == "<5"}
    values = [v for r, v in scaled.items() if v is not None and r not in suppressed]
    edges = cartogram.bins(values)
    is_count = indicator != "median_reaction"
    legend = []
    for i, (lo, hi) in enumerate(edges):
        colour, text = cartogram.PALETTE[i if len(edges) > 1 else len(cartogram.PALETTE) - 1]
        legend.append({"colour": colour, "text": text, "label": _range_label(lo, hi, is_count, i == 0)})
    unit = "" if is_count else f" {i18n.t('map.hours', lang)}"
    indicator_title = i18n.t(f"ind.{indicator}", lang)
    tiles = []
    for code, (col, row) in cartogram.TILES.items():
        if code not in ctx.directory.regions:
            continue
        figure = figures.get(code)
        shown = disclose(figure, code in access)
        if code in suppressed:
            colour, text = cartogram.SUPPRESSED
        elif scaled[code] is None:
            colour, text = cartogram.NO_DATA
        else:
            i = cartogram.bin_index(scaled[code], edges) if len(edges) > 1 else len(cartogram.PALETTE) - 1
            colour, text = cartogram.PALETTE[i]
        display = shown if shown is not None else ("0" if is_count else "—")
        n_text = ""
        if not is_count and figure is not None:
            n_text = f"{'<5' if code in suppressed else figure.n} {i18n.t('map.tasks_n', lang)}"
        name = ctx.region_name(code)
        short = cartogram.SHORT.get(code, {}).get(lang, code)
        tiles.append({"code": code, "col": col + 1, "row": row + 1, "name": name, "short": short,
                      "value": display + (unit if shown else ""),
                      "n": n_text, "colour": colour, "text": text, "suppressed": code in suppressed,
                      # starts with the tile's visible text (short name, figure, code), then says it in full
                      "label": f"{short} {display}{unit if shown else ''} {code} — {name}: {indicator_title}"
                               + (f" ({n_text})" if n_text else ""),
                      "href": "/cases?" + urlencode({"region": code, **({"algorithm": algorithm} if algorithm else {})})})
    tiles.sort(key=lambda t: (t["row"], t["col"]))
    view = {"indicator": indicator, "indicator_title": indicator_title, "indicators": list(INDICATORS),
            "algorithm": algorithm or "", "agency_type": body_type, "from": start.isoformat(), "to": end.isoformat(),
            "algorithms": [(d_id, i18n.pick(ctx.registry.latest(d_id).spec.title, lang)) for d_id in ctx.registry.ids()],
            "agency_types": [(bt, i18n.body_type_title(bt, lang)) for bt in i18n.body_types()],
            "tiles": tiles, "legend": legend, "has_suppressed": bool(suppressed),
            "suppressed_colour": cartogram.SUPPRESSED[0], "no_data_colour": cartogram.NO_DATA[0],
            "columns": cartogram.COLUMNS, "rows": cartogram.ROWS, "is_count": is_count,
            "needs_window": indicator in WINDOW_INDICATORS,
            "needs_type": indicator == "median_reaction"}
    return render("map.html", ctx.page(**view))
