"""The risk map: one indicator per region drawn on the regions' real shapes (inline SVG, coloured by
the rate per 10,000 children) and on a tile cartogram, small counts hidden per reader, a quarter
slider, the CSV of what is shown, and the indicator figures' cache (this page's alone)."""
from __future__ import annotations

import csv
import io
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
from states import children as children_table
from states.indicators import INDICATORS, WINDOW_INDICATORS, disclose, region_figures
from states.queries import descendants

from .. import cartogram, i18n
from ..region_shapes import shapes
from ..render import render
from .context import Ctx, SignedIn
from .params import InvalidInput, period_params

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


QUARTERS_BACK = 11  # the slider's reach: this quarter and the eleven before it


def quarter_of(day: date) -> int:
    """A quarter as one number (year * 4 + quarter - 1), the slider's value."""
    return day.year * 4 + (day.month - 1) // 3


def quarter_bounds(quarter: int) -> tuple[date, date]:
    year, index = divmod(quarter, 4)
    start = date(year, index * 3 + 1, 1)
    return start, (date(year + 1, 1, 1) if index == 3 else date(year, index * 3 + 4, 1))


def quarter_label(quarter: int) -> str:
    return f"{quarter // 4} Q{quarter % 4 + 1}"


def _window(request: Request, now: datetime) -> tuple[date, date, int | None]:
    """The period: the slider's `quarter` when given, else `from` and `to` (default: the last year)."""
    today = now.astimezone(KZ_TZ).date()
    text = request.query_params.get("quarter")
    if text:
        latest = quarter_of(today)
        if not text.isdigit() or not latest - QUARTERS_BACK <= int(text) <= latest:
            raise InvalidInput("quarter", f"must be one of the quarters {quarter_label(latest - QUARTERS_BACK)} "
                                          f"to {quarter_label(latest)}")
        return (*quarter_bounds(int(text)), int(text))
    start, end = period_params(request, (today.replace(day=1) - timedelta(days=365)).replace(day=1),
                               today + timedelta(days=1))
    return start, end, None


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


def fmt_rate(rate: float) -> str:
    """A rate per 10,000 children as shown: two decimals below 10, one above."""
    return f"{rate:.2f}" if rate < 10 else f"{rate:.1f}"


def _range_label(lo: float, hi: float, is_count: bool) -> str:
    return f"{fmt_rate(lo)}–{fmt_rate(hi)}" if is_count else f"{lo:.1f}–{hi:.1f}"


async def _map_view(ctx: Ctx) -> dict[str, Any]:
    """Everything the map shows, per reader: one row per region (count, rate, colour class, whether
    hidden), the legend's classes, the period and the filters. The page and its CSV both read it."""
    q, lang, now = ctx.request.query_params, ctx.lang, utcnow()
    indicator = q.get("indicator") if q.get("indicator") in INDICATORS else "open_cases"
    algorithm = q.get("algorithm") if q.get("algorithm") in ctx.registry.ids() else None
    body_type = q.get("agency_type") if q.get("agency_type") in i18n.body_types() else "police"
    start, end, quarter = _window(ctx.request, now)
    start_dt, end_dt = datetime.combine(start, dtime(0), KZ_TZ), datetime.combine(end, dtime(0), KZ_TZ)
    figures = await _cached_figures(ctx, indicator, (indicator, algorithm, start, end, body_type), dict(
        now=now, algorithm=algorithm, start=start_dt, end=end_dt, body_type=body_type))
    access = access_regions(ctx.principal, ctx.directory)
    children = children_table.current()
    is_count = indicator != "median_reaction"
    unit = "" if is_count else f" {i18n.t('map.hours', lang)}"
    indicator_title = i18n.t(f"ind.{indicator}", lang)
    fewer = i18n.t("map.fewer_than_5", lang)
    per = i18n.t("map.per_10000", lang)
    rows = []
    for code in ctx.directory.regions:
        figure = figures.get(code)
        shown = disclose(figure, code in access)
        suppressed = shown == "<5"
        # colour by the rate per 10,000 children (counts) or by the median itself (hours)
        measure = None
        if shown is not None and not suppressed:
            measure = children.rate(code, figure.value) if is_count else float(figure.value)
        rows.append({"code": code, "figure": figure, "shown": shown, "suppressed": suppressed,
                     "measure": measure, "children": children.counts.get(code)})
    edges = cartogram.bins([r["measure"] for r in rows if r["measure"] is not None])
    top = len(cartogram.PALETTE) - 1
    legend = [{"cls": i if len(edges) > 1 else top, "lo": lo, "hi": hi, "colour": cartogram.PALETTE[i if len(edges) > 1 else top][0],
               "label": _range_label(lo, hi, is_count)} for i, (lo, hi) in enumerate(edges)]
    for r in rows:
        code, figure, shown = r["code"], r["figure"], r["shown"]
        if r["suppressed"]:
            (colour, text), cls = cartogram.SUPPRESSED, None
        elif r["measure"] is None:
            (colour, text), cls = cartogram.NO_DATA, None
        else:
            cls = cartogram.bin_index(r["measure"], edges) if len(edges) > 1 else top
            colour, text = cartogram.PALETTE[cls]
        display = shown if shown is not None else ("0" if is_count else "—")
        n_text = ""
        if not is_count and figure is not None:
            n_text = f"{'<5' if r['suppressed'] else figure.n} {i18n.t('map.tasks_n', lang)}"
        name = ctx.region_name(code)
        short = cartogram.SHORT.get(code, {}).get(lang, code)
        if r["suppressed"]:
            said = f"{fewer} ({i18n.t('map.rate_hidden', lang)})"
        elif is_count:
            rate = children.rate(code, figure.value if figure is not None else 0)
            r["rate_text"] = fmt_rate(rate) if rate is not None else ""
            said = f"{display} ({r['rate_text']} {per})" if rate is not None else display
        else:
            said = f"{display}{unit if shown else ''}" + (f" ({n_text})" if n_text else "")
        r.update(name=name, short=short, colour=colour, text=text, cls=cls, n=n_text,
                 value=display + (unit if shown else ""), rate_text=r.get("rate_text", ""),
                 # the tile: starts with its visible text (short name, figure, code), then says it in full
                 label=f"{short} {display}{unit if shown else ''} {code} — {name}: {indicator_title}"
                       + (f" ({n_text})" if n_text else ""),
                 map_label=f"{name} — {indicator_title}: {said}",
                 href="/cases?" + urlencode({"region": code, **({"algorithm": algorithm} if algorithm else {})}))
    latest = quarter_of(now.astimezone(KZ_TZ).date())
    filters = {"indicator": indicator, **({"algorithm": algorithm} if algorithm else {}), "agency_type": body_type}
    period = {"quarter": quarter} if quarter is not None else {"from": start.isoformat(), "to": end.isoformat()}
    return {"indicator": indicator, "indicator_title": indicator_title, "algorithm": algorithm or "",
            "agency_type": body_type, "start": start, "end": end, "quarter": quarter, "is_count": is_count,
            "rows": rows, "legend": legend, "children": children, "latest_quarter": latest,
            "has_suppressed": any(r["suppressed"] for r in rows), "filters": filters,
            "csv_url": "/map.csv?" + urlencode({**filters, **period})}


@router.get("/map")
async def map_page(ctx: SignedIn) -> Response:
    lang = ctx.lang
    v = await _map_view(ctx)
    tiles = []
    for r in v["rows"]:
        if r["code"] in cartogram.TILES:
            col, row = cartogram.TILES[r["code"]]
            tiles.append({**r, "col": col + 1, "row": row + 1})
    tiles.sort(key=lambda t: (t["row"], t["col"]))
    geo = shapes()
    regions = [{**r, "shape": geo.regions[r["code"]]} for r in v["rows"] if r["code"] in geo.regions]
    regions.sort(key=lambda r: (r["shape"].city, r["code"]))  # cities on top of the regions round them
    children = v["children"]
    latest = v["latest_quarter"]
    view = {**{k: v[k] for k in ("indicator", "indicator_title", "algorithm", "agency_type", "legend",
                                 "has_suppressed", "is_count", "csv_url")},
            "from": v["start"].isoformat(), "to": v["end"].isoformat(), "indicators": list(INDICATORS),
            "algorithms": [(d_id, i18n.pick(ctx.registry.latest(d_id).spec.title, lang)) for d_id in ctx.registry.ids()],
            "agency_types": [(bt, i18n.body_type_title(bt, lang)) for bt in i18n.body_types()],
            "tiles": tiles, "regions": regions, "view_box": geo.view_box,
            "suppressed_colour": cartogram.SUPPRESSED[0], "no_data_colour": cartogram.NO_DATA[0],
            "columns": cartogram.COLUMNS, "rows": cartogram.ROWS,
            "needs_window": v["indicator"] in WINDOW_INDICATORS, "needs_type": v["indicator"] == "median_reaction",
            "quarter": v["quarter"] if v["quarter"] is not None else latest,
            "quarter_label": quarter_label(v["quarter"] if v["quarter"] is not None else latest),
            "quarter_min": latest - QUARTERS_BACK, "quarter_max": latest,
            "quarter_labels": [quarter_label(x) for x in range(latest - QUARTERS_BACK, latest + 1)],
            "quarter_chosen": v["quarter"] is not None,
            "children_source": children.source, "children_official": children.official,
            "children_as_of": children.as_of.isoformat() if children.as_of else ""}
    return render("map.html", ctx.page(**view))


@router.get("/map.csv")
async def map_csv(ctx: SignedIn) -> Response:
    """What the map shows, as CSV: one row per region, small counts hidden exactly as on the page."""
    v = await _map_view(ctx)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    if v["is_count"]:
        w.writerow(["iso", "region", "indicator", "from", "to", "count", "children_0_17", "rate_per_10000_children"])
    else:
        w.writerow(["iso", "region", "indicator", "from", "to", "median_hours", "tasks", "agency_type"])
    for r in sorted(v["rows"], key=lambda r: r["code"]):
        lead = [r["code"], r["name"], v["indicator"], v["start"].isoformat(), v["end"].isoformat()]
        if v["is_count"]:
            w.writerow(lead + [r["shown"] or "0", r["children"] or "", "" if r["suppressed"] else r["rate_text"]])
        else:
            tasks = "" if r["figure"] is None else ("<5" if r["suppressed"] else r["figure"].n)
            w.writerow(lead + [r["shown"] or "", tasks, v["agency_type"]])
    name = f"map-{v['indicator']}-{v['start'].isoformat()}-{v['end'].isoformat()}.csv"
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
                             "X-Content-Type-Options": "nosniff"})
