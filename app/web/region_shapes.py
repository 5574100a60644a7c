"""The 20 regions' shapes for the risk map: SVG path data by ISO 3166-2:KZ code, built once by
scripts/build_region_shapes.py from an open boundaries dataset (app/web/static/maps/SOURCE.md)."""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

PATH = Path(__file__).resolve().parent / "static" / "maps" / "kz-regions.json"


@dataclass(frozen=True)
class Shape:
    d: str          # SVG path data
    x: float        # label / marker anchor
    y: float
    city: bool      # a city of republican significance: small, drawn on top with a marker


@dataclass(frozen=True)
class Shapes:
    view_box: str
    regions: dict[str, Shape]


@functools.lru_cache(maxsize=1)
def shapes() -> Shapes:
    raw = json.loads(PATH.read_text(encoding="utf-8"))
    regions = {code: Shape(r["d"], r["x"], r["y"], bool(r.get("city"))) for code, r in raw["regions"].items()}
    return Shapes(raw["viewBox"], regions)
