"""The tile cartogram of Kazakhstan's 20 regions (ISO 3166-2:KZ, after the 2022 reform).

No boundary data that is both offline and suitably licensed ships in a registry package, so each
region is one tile placed on a grid roughly where it lies on the real map: (column, row), west to
east and north to south. The grid is 7 columns by 6 rows.
"""
from __future__ import annotations

COLUMNS, ROWS = 7, 6

TILES: dict[str, tuple[int, int]] = {
    "KZ-59": (3, 0),  # North Kazakhstan
    "KZ-55": (5, 0),  # Pavlodar
    "KZ-27": (0, 1),  # West Kazakhstan
    "KZ-15": (1, 1),  # Aktobe
    "KZ-39": (2, 1),  # Kostanay
    "KZ-11": (3, 1),  # Akmola
    "KZ-71": (4, 1),  # Astana
    "KZ-63": (6, 1),  # East Kazakhstan
    "KZ-23": (0, 2),  # Atyrau
    "KZ-62": (3, 2),  # Ulytau
    "KZ-35": (4, 2),  # Karaganda
    "KZ-10": (5, 2),  # Abai
    "KZ-47": (0, 3),  # Mangystau
    "KZ-43": (2, 3),  # Kyzylorda
    "KZ-33": (5, 3),  # Zhetisu
    "KZ-61": (3, 4),  # Turkestan
    "KZ-31": (4, 4),  # Zhambyl
    "KZ-19": (5, 4),  # Almaty Region
    "KZ-79": (3, 5),  # Shymkent
    "KZ-75": (5, 5),  # Almaty
}

# Short tile labels (the full name is in the tile's accessible name and the panel).
SHORT: dict[str, dict[str, str]] = {
    "KZ-10": {"kk": "Абай", "ru": "Абай", "en": "Abai"},
    "KZ-11": {"kk": "Ақмола", "ru": "Акмола", "en": "Akmola"},
    "KZ-15": {"kk": "Ақтөбе", "ru": "Актобе", "en": "Aktobe"},
    "KZ-19": {"kk": "Алматы обл.", "ru": "Алматинская", "en": "Almaty Reg."},
    "KZ-23": {"kk": "Атырау", "ru": "Атырау", "en": "Atyrau"},
    "KZ-27": {"kk": "Батыс Қаз.", "ru": "ЗКО", "en": "West Kaz."},
    "KZ-31": {"kk": "Жамбыл", "ru": "Жамбыл", "en": "Zhambyl"},
    "KZ-33": {"kk": "Жетісу", "ru": "Жетісу", "en": "Zhetisu"},
    "KZ-35": {"kk": "Қарағанды", "ru": "Караганда", "en": "Karaganda"},
    "KZ-39": {"kk": "Қостанай", "ru": "Костанай", "en": "Kostanay"},
    "KZ-43": {"kk": "Қызылорда", "ru": "Кызылорда", "en": "Kyzylorda"},
    "KZ-47": {"kk": "Маңғыстау", "ru": "Мангистау", "en": "Mangystau"},
    "KZ-55": {"kk": "Павлодар", "ru": "Павлодар", "en": "Pavlodar"},
    "KZ-59": {"kk": "Солт. Қаз.", "ru": "СКО", "en": "North Kaz."},
    "KZ-61": {"kk": "Түркістан", "ru": "Туркестан", "en": "Turkistan"},
    "KZ-62": {"kk": "Ұлытау", "ru": "Ұлытау", "en": "Ulytau"},
    "KZ-63": {"kk": "Шығыс Қаз.", "ru": "ВКО", "en": "East Kaz."},
    "KZ-71": {"kk": "Астана", "ru": "Астана", "en": "Astana"},
    "KZ-75": {"kk": "Алматы", "ru": "Алматы", "en": "Almaty"},
    "KZ-79": {"kk": "Шымкент", "ru": "Шымкент", "en": "Shymkent"},
}

# A sequential scale, light to dark, with the text colour that keeps 4.5:1 contrast on each.
PALETTE: list[tuple[str, str]] = [
    ("#fdf0e6", "#1f1f1f"),
    ("#f9cfa8", "#1f1f1f"),
    ("#f0a06a", "#1f1f1f"),
    ("#b34a20", "#ffffff"),
    ("#8a2a12", "#ffffff"),
]
NO_DATA = ("#eef1f4", "#1f1f1f")
SUPPRESSED = ("#f7f7f2", "#1f1f1f")


def bins(values: list[float], count: int = len(PALETTE)) -> list[tuple[float, float]]:
    """Equal-width bins from the smallest to the largest value (at least width 1 for counts)."""
    if not values:
        return []
    lo, hi = min(values), max(values)
    if hi <= lo:
        return [(lo, hi)]
    width = (hi - lo) / count
    return [(lo + i * width, lo + (i + 1) * width) for i in range(count)]


def bin_index(value: float, edges: list[tuple[float, float]]) -> int:
    for i, (_, hi) in enumerate(edges):
        if value <= hi + 1e-9:
            return i
    return len(edges) - 1
