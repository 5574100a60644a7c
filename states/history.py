"""The hash chain of a case's history: `hash = sha256(prev_hash + canonical event)`."""
from __future__ import annotations

import hashlib
import json
from json.encoder import encode_basestring as _quote
from typing import Any, Callable

from .clock import iso

GENESIS = "0" * 64


def canonical(event: dict[str, Any]) -> str:
    """The one text of an event that its hash covers: sorted keys, no spaces, UTF-8."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, event: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(event)).encode("utf-8")).hexdigest()


def _dumps(value: Any) -> str:
    """The canonical text of a scalar (what `canonical` writes for it), without the encoder's overhead."""
    if isinstance(value, str):
        return _quote(value)
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def canonical_from_parts(event: dict[str, Any], data_text: str, effects_text: str) -> str:
    """`canonical(event)` assembled from the canonical texts of its `data` and `effects`, as the
    store keeps them (see `db.make_engine`'s JSON serializer): verification then hashes without
    re-serialising the largest parts. Keys in sorted order, exactly as `canonical` writes them."""
    return ('{"actor":' + _dumps(event["actor"]) + ',"algorithm":' + _dumps(event["algorithm"])
            + ',"at":' + _dumps(event["at"]) + ',"case":' + _dumps(event["case"]) + ',"data":' + data_text
            + ',"definition":' + _dumps(event["definition"]) + ',"effects":' + effects_text
            + ',"from":' + _dumps(event["from"])
            + (',"person":' + _dumps(event["person"]) if event.get("person") is not None else "")
            + ',"seq":' + _dumps(event["seq"])
            + ',"to":' + _dumps(event["to"]) + ',"trigger":' + _dumps(event["trigger"])
            + ',"version":' + _dumps(event["version"]) + "}")


MIGRATED = "migrated"


def _effects(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else (value or {})


def definition_pins(rows: list[tuple[int, str, Any]], current: str) -> Callable[[int], str]:
    """The definition hash each event of a case was hashed with. `rows`: (seq, trigger, effects) of
    its events; a `migrated` event records the definition the case moved from, which every event
    before it carries; the rest carry the case's `current` one."""
    marks = sorted((seq, _effects(fx)["migrated_from"]["definition"]) for seq, trigger, fx in rows
                   if trigger == MIGRATED)
    if not marks:
        return lambda seq: current

    def pin(seq: int) -> str:
        for mark, definition in marks:
            if seq < mark:
                return definition
        return current
    return pin


def event_documents(rows: list[Any], case_ref: str, algorithm: str, definition_hash: str) -> list[dict[str, Any]]:
    """The hashed documents of a case's stored event rows, in order."""
    maps = [r._mapping if hasattr(r, "_mapping") else r for r in rows]
    pin = definition_pins([(m["seq"], m["trigger"], m["effects"]) for m in maps], definition_hash)
    return [event_document(m, case_ref, algorithm, pin(m["seq"])) for m in maps]


def event_document(row: Any, case_ref: str, algorithm: str, definition_hash: str) -> dict[str, Any]:
    """Rebuild the hashed document of a stored event row."""
    m = row._mapping if hasattr(row, "_mapping") else row
    doc = {
        "case": case_ref, "seq": m["seq"], "at": iso(m["at"]), "actor": m["actor"], "trigger": m["trigger"],
        "data": m["data"], "from": m["from_state"], "to": m["to_state"], "effects": m["effects"],
        "algorithm": algorithm, "version": m["algorithm_version"], "definition": definition_hash,
    }
    if m.get("person") is not None:
        doc["person"] = m["person"]
    return doc
