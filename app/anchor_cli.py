"""`qorgau anchor`, `qorgau verify --anchors PATH` and `qorgau proof REF SEQ` (docs/audit.md).

    qorgau anchor                      # take an anchor now (even if nothing changed), send it to the witnesses
    qorgau anchor --list               # every stored anchor
    qorgau anchor --key                # the public key the witness documents are signed with
    qorgau verify --anchors witness/   # the witnesses' copies against the store: names the cases that no longer match
    qorgau proof VR-75-000001 3        # the inclusion proof of event 3 in a witnessed anchor (JSON)
"""
from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Optional

import typer

from states.clock import iso
from states.errors import RuleViolation


def anchor_command(list_all: bool = typer.Option(False, "--list", help="Print every stored anchor."),
                   show_key: bool = typer.Option(False, "--key", help="Print the anchor key's public half."),
                   as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Record an anchor — the Merkle root of every case's chain head — send its signed document to
    the witnesses (QORGAU_ANCHOR_WITNESSES) and ask the TSA (QORGAU_TSA_URL) for the tokens still owed.

    The `anchor-heads` flow does the same every QORGAU_ANCHOR_INTERVAL seconds (default 60) in which
    anything was written. `qorgau verify --anchors PATH` checks the witnesses' copies.
    """
    from states.anchor import anchors
    from states.anchoring import anchor_now
    from states.store import open_engine
    from states.witness import key_id, public_raw, signing_key
    if show_key:
        public = public_raw(signing_key())
        typer.echo(json.dumps({"key": key_id(public), "public_key": base64.b64encode(public).decode()})
                   if as_json else f"anchor key {key_id(public)}: {base64.b64encode(public).decode()} (Ed25519)")
        return
    engine = open_engine()
    if list_all:
        with engine.reader() as conn:
            found = anchors(conn)
        if as_json:
            typer.echo(json.dumps([{"id": a.id, "at": iso(a.at), "root": a.root, "cases": a.cases,
                                    "changed": a.changed} for a in found]))
        else:
            for a in found:
                typer.echo(a.line())
        return
    out = anchor_now(engine, force=True)
    a = out.anchor
    if as_json:
        typer.echo(json.dumps({"id": a.id, "at": iso(a.at), "root": a.root, "cases": a.cases, "changed": a.changed,
                               "stamped": out.stamped, "unstamped": out.unstamped, "tsa_error": out.tsa_error}))
        return
    typer.echo(a.line())
    if out.stamped or out.unstamped:
        typer.echo(f"time-stamps: {out.stamped} obtained, {out.unstamped} still owed"
                   + (f" ({out.tsa_error})" if out.tsa_error else ""))


def verify_witnesses(path: Path, as_json: bool) -> bool:
    """The `--anchors` part of `qorgau verify`: prints the report, returns whether all holds."""
    from states.store import open_engine
    from states.timestamps import TsaSettings, verify_token
    from states.witness import key_id, public_raw, read_copies, signing_key
    from states.witness_check import check_copies
    if not path.exists():
        typer.echo(f"{path}: no such file or folder of witness copies", err=True)
        raise typer.Exit(2)
    trusted = {key_id(public_raw(signing_key()))} | set(filter(None, (os.environ.get("QORGAU_ANCHOR_KEYS") or "")
                                                              .replace(",", " ").split()))
    tsa = TsaSettings.from_env()
    check = (lambda token, message: verify_token(tsa, token, message)) if tsa.ca_path else None
    engine = open_engine()
    with engine.reader() as conn:
        report = check_copies(conn, read_copies(path), trusted_keys=trusted, verify_token=check)
    if as_json:
        typer.echo(json.dumps({"ok": report.ok, "anchors": report.anchors, "timestamps": report.timestamps,
                               "heads": report.heads, "cases": report.cases, "problems": report.problems},
                              ensure_ascii=False, indent=2))
    else:
        for problem in report.problems:
            typer.echo(f"✗ {problem}")
        if report.cases:
            typer.echo("cases whose heads no longer match the witnesses: " + ", ".join(sorted(report.cases)))
        tokens = "TSA tokens checked" if check else "TSA tokens not checked (set QORGAU_TSA_CA)"
        typer.echo(f"{report.anchors} witnessed anchors, {report.timestamps} time-stamps ({tokens}), "
                   f"{report.heads} heads: " + ("all match the store" if report.ok else
                                                f"{len(report.problems)} problems"))
    return report.ok


def proof_command(ref: str = typer.Argument(..., help="Case reference, e.g. VR-75-000001."),
                  seq: int = typer.Argument(..., help="The event's number in the case's history."),
                  out: Optional[Path] = typer.Option(None, "--out", help="Write the proof to this file.")) -> None:
    """Print the proof (JSON) that event SEQ of case REF is in a witnessed anchor: the event, the
    events after it up to the anchored head, and the Merkle path to the anchor's root. docs/audit.md
    shows how to check it with a few lines of standard-library Python."""
    from states.proof import inclusion_proof
    from states.store import open_engine
    engine = open_engine()
    try:
        with engine.reader() as conn:
            proof = inclusion_proof(conn, ref, seq)
    except RuleViolation as exc:
        typer.echo(f"error: {exc.code}: {exc.message}", err=True)
        raise typer.Exit(1)
    text = json.dumps(proof, ensure_ascii=False, indent=2)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {out}: event {seq} of {ref} in anchor {proof['anchor']['id']} (root {proof['anchor']['root']})")
    else:
        typer.echo(text)
