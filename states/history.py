"""The hash chain of a case's history: `hash = sha256(prev_hash + canonical event)`."""
from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64


def canonical(event: dict[str, Any]) -> str:
    """The one text of an event that its hash covers: sorted keys, no spaces, UTF-8."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, event: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(event)).encode("utf-8")).hexdigest()


def event_document(row: Any, case_ref: str, algorithm: str, definition_hash: str) -> dict[str, Any]:
    """Rebuild the hashed document of a stored event row."""
    from .clock import iso
    m = row._mapping if hasattr(row, "_mapping") else row
    return {
        "case": case_ref, "seq": m["seq"], "at": iso(m["at"]), "actor": m["actor"], "trigger": m["trigger"],
        "data": m["data"], "from": m["from_state"], "to": m["to_state"], "effects": m["effects"],
        "algorithm": algorithm, "version": m["algorithm_version"], "definition": definition_hash,
    }
