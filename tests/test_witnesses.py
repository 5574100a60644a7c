"""Evidence an outsider can check (issue 18): anchors only when something was written, their signed
documents delivered to witnesses through the outbox and a real channel (an .eml folder), RFC 3161
tokens from a real TSA (OpenSSL), and the attacks: a history cut off with its case row rolled back
and the anchors table recomputed to match is named from the witnesses' copies; a forged token is
refused; a TSA that is down delays the token, never the anchor; a proof checks with the standard
library as docs/audit.md prints it."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from states import tables as T
from states.anchor import heads_at, leaf, make_anchor, root_of_heads
from states.anchoring import anchor_now
from states.proof import check_proof, inclusion_proof
from states.timestamps import TsaSettings, verify_token
from states.verify import verify_all
from states.witness import Witnessing, canonical, doc_hash, envelope, read_copies, signing_key
from states.witness_check import check_copies

from conftest import ROOT, kz
from factories import violence_report_data
from support.tsa import TestTsa, openssl_ts_available
from support.witnesses import deliver_witnesses

T0 = kz(2026, 4, 6, 10)
ASSESS = {"immediate_danger": False, "perpetrator": "peer"}
NO_TSA = TsaSettings(url=None)


@pytest.fixture
def witness(tmp_path: Path):
    folder = tmp_path / "witness"
    return Witnessing(key=signing_key(tmp_path / "anchor.key"), urls=[f"eml://{folder}"]), folder


def _cases(engine, n: int, at) -> list[str]:
    return [engine.launch("violence-report", "KZ-75", "kz-75.school-1", violence_report_data(now=at), now=at).ref
            for _ in range(n)]


def _trusted(w: Witnessing) -> set[str]:
    from states.witness import key_id, public_raw
    return {key_id(public_raw(w.key))}


def test_an_anchor_only_when_something_was_written(engine, witness) -> None:
    w, _ = witness
    assert anchor_now(engine, T0, witnessing=w, tsa=NO_TSA).anchor is None  # an empty store: nothing to anchor
    refs = _cases(engine, 3, T0)
    first = anchor_now(engine, T0 + timedelta(minutes=1), witnessing=w, tsa=NO_TSA).anchor
    assert (first.cases, first.changed) == (3, 3)
    assert anchor_now(engine, T0 + timedelta(minutes=2), witnessing=w, tsa=NO_TSA).anchor is None
    engine.fire(refs[1], "assess", "kz-75.school-1", ASSESS, now=T0 + timedelta(minutes=3))
    second = anchor_now(engine, T0 + timedelta(minutes=4), witnessing=w, tsa=NO_TSA).anchor
    assert (second.cases, second.changed) == (3, 1)  # only the changed head was recorded
    with engine.reader() as conn:
        assert root_of_heads(heads_at(conn, second.id)) == second.root


def test_witnesses_get_signed_copies_and_an_untouched_store_verifies(engine, witness) -> None:
    w, folder = witness
    refs = _cases(engine, 4, T0)
    for i in range(30):  # thirty minutes, something written in each
        at = T0 + timedelta(minutes=i)
        if i < 4:
            engine.fire(refs[i], "assess", "kz-75.school-1", ASSESS, now=at)
        else:
            _cases(engine, 1, at)
        anchor_now(engine, at + timedelta(seconds=30), witnessing=w, tsa=NO_TSA)
    assert deliver_witnesses(engine) == 30
    copies = read_copies(folder)
    assert len(copies.anchors) == 30 and not copies.problems
    first = copies.anchors[1]["document"]
    assert first["full"] and len(first["leaves"]) == 4 and copies.anchors[2]["document"]["full"] is False
    with engine.reader() as conn:
        report = check_copies(conn, copies, trusted_keys=_trusted(w))
    assert report.ok, report.problems
    assert report.anchors == 30 and report.heads > 30


def _cut_tail(engine, ref: str, keep: int, key) -> None:
    """The attacker, with write access to the whole database and the anchor key on its disk: delete
    the case's events after `keep`, roll its row and tasks back to match, and recompute every anchor
    (root, heads, witness document, its hash, chain and signature) over the rewritten heads."""
    case = engine.case(ref)
    with engine.db.begin() as conn:
        last = conn.execute(select(T.events).where(T.events.c.case_id == case.id, T.events.c.seq == keep)).one()
        first_cut = conn.execute(select(T.events).where(T.events.c.case_id == case.id, T.events.c.seq == keep + 1)).one()
        conn.execute(delete(T.outbox).where(T.outbox.c.case_id == case.id, T.outbox.c.event_seq > keep))
        conn.execute(delete(T.events).where(T.events.c.case_id == case.id, T.events.c.seq > keep))
        effects = first_cut.effects
        for t in effects.get("tasks_opened", []):
            conn.execute(delete(T.steps).where(T.steps.c.case_id == case.id, T.steps.c.task_key == t["key"]))
            conn.execute(delete(T.tasks).where(T.tasks.c.case_id == case.id, T.tasks.c.key == t["key"]))
        for t in effects.get("tasks_closed", []):
            conn.execute(update(T.tasks).where(T.tasks.c.case_id == case.id, T.tasks.c.key == t["key"])
                         .values(status="open", closed_at=None, cancelled_by=None))
            conn.execute(update(T.steps).where(T.steps.c.case_id == case.id, T.steps.c.task_key == t["key"],
                                               T.steps.c.status == "cancelled").values(status="pending"))
        conn.execute(update(T.cases).where(T.cases.c.id == case.id).values(
            version=keep, head_hash=last.hash, state=last.to_state,
            task_seq=case.task_seq - len(effects.get("tasks_opened", []))))
        # the anchors, recomputed over the rewritten heads: every leaf of this case set to the new head
        conn.execute(update(T.anchor_leaves).where(T.anchor_leaves.c.ref == ref, T.anchor_leaves.c.seq > keep)
                     .values(seq=keep, hash=last.hash))
        conn.execute(update(T.anchor_heads).where(T.anchor_heads.c.ref == ref).values(seq=keep, hash=last.hash))
        conn.execute(update(T.anchor_heads).where(T.anchor_heads.c.ref == ref).values(
            leaf=leaf(ref, keep, last.hash).hex()))
        prev = None
        for anchor in conn.execute(select(T.anchors).order_by(T.anchors.c.id)).all():
            doc = json.loads(anchor.document)
            doc["root"], doc["prev"] = root_of_heads(heads_at(conn, anchor.id)), prev
            doc["leaves"] = [[r, keep, last.hash] if r == ref else [r, s, h] for r, s, h in doc["leaves"]]
            sealed = envelope(doc, key)
            text = canonical(doc)
            prev = doc_hash(text)
            conn.execute(update(T.anchors).where(T.anchors.c.id == anchor.id).values(
                root=doc["root"], document=text, doc_hash=prev, signature=sealed["signature"]))


def test_a_history_cut_off_and_anchors_recomputed_is_named_from_the_witnesses(engine, witness) -> None:
    w, folder = witness
    refs = _cases(engine, 3, T0)
    anchor_now(engine, T0 + timedelta(minutes=1), witnessing=w, tsa=NO_TSA)
    victim = refs[1]
    engine.fire(victim, "assess", "kz-75.school-1", ASSESS, now=T0 + timedelta(minutes=2))  # event 2
    anchor_now(engine, T0 + timedelta(minutes=3), witnessing=w, tsa=NO_TSA)  # witnesses hold event 2 as its head
    deliver_witnesses(engine)
    _cut_tail(engine, victim, keep=1, key=w.key)
    with engine.reader() as conn:
        inside = verify_all(conn, engine.registry)
        report = check_copies(conn, read_copies(folder), trusted_keys=_trusted(w))
    assert inside.ok, [f.problems for f in inside.failures]  # the store alone no longer shows it
    assert not report.ok and list(report.cases) == [victim]
    assert f"{victim}: event 2 is gone" in report.cases[victim]
    assert any("the anchors table was rewritten" in p for p in report.problems)


def test_thousands_of_anchors_verify_on_an_untouched_store(engine, witness) -> None:
    w, folder = witness
    at = T0
    for i in range(2000):  # two thousand minutes' anchors; a case launched in every hundredth
        at += timedelta(minutes=1)
        if i % 100 == 0:
            _cases(engine, 1, at)
        make_anchor(engine, at + timedelta(seconds=30), force=True, witness=w)
    deliver_witnesses(engine)
    with engine.reader() as conn:
        report = check_copies(conn, read_copies(folder), trusted_keys=_trusted(w))
    assert report.ok, report.problems[:5]
    assert report.anchors == 2000 and report.heads == 20


# ------------------------------------------------------------------------------ time-stamps

pytestmark_tsa = pytest.mark.skipif(not openssl_ts_available(), reason="openssl ts is not on this machine")


@pytestmark_tsa
def test_a_tsa_that_is_down_delays_the_token_never_the_anchor(engine, witness) -> None:
    w, folder = witness
    with TestTsa() as tsa:
        settings = TsaSettings(url=tsa.url, ca_path=tsa.ca_pem_path)
        _cases(engine, 2, T0)
        tsa.stop()
        down = anchor_now(engine, T0, witnessing=w, tsa=settings)
        assert down.anchor is not None and down.stamped == 0 and down.unstamped == 1 and down.tsa_error
        tsa.start()
        later = anchor_now(engine, T0 + timedelta(minutes=1), witnessing=w, tsa=settings)
        assert later.anchor is None and later.stamped == 1 and later.unstamped == 0  # caught up
        deliver_witnesses(engine)
        copies = read_copies(folder)
        assert list(copies.timestamps) == [down.anchor.id]
        with engine.reader() as conn:
            report = check_copies(conn, copies, trusted_keys=_trusted(w),
                                  verify_token=lambda token, message: verify_token(settings, token, message))
        assert report.ok and report.timestamped == 1, report.problems


@pytestmark_tsa
def test_a_forged_tsa_token_is_refused(engine, witness, tmp_path: Path) -> None:
    w, folder = witness
    with TestTsa() as tsa, TestTsa("Forger's TSA") as forger:
        trusted = TsaSettings(url=tsa.url, ca_path=tsa.ca_pem_path)
        _cases(engine, 1, T0)
        # the anchor is time-stamped by a TSA the auditor does not trust (the token itself is genuine)
        anchor_now(engine, T0, witnessing=w, tsa=TsaSettings(url=forger.url, ca_path=forger.ca_pem_path))
        deliver_witnesses(engine)
        with engine.reader() as conn:
            report = check_copies(conn, read_copies(folder), trusted_keys=_trusted(w),
                                  verify_token=lambda token, message: verify_token(trusted, token, message))
        assert not report.ok and any("the TSA token is refused" in p for p in report.problems)


# ------------------------------------------------------------------------------ proofs

def test_a_proof_checks_with_the_standard_library_as_the_docs_print_it(engine, witness) -> None:
    w, folder = witness
    refs = _cases(engine, 6, T0)
    engine.fire(refs[2], "assess", "kz-75.school-1", ASSESS, now=T0 + timedelta(minutes=1))
    anchor_now(engine, T0 + timedelta(minutes=2), witnessing=w, tsa=NO_TSA)
    deliver_witnesses(engine)
    with engine.reader() as conn:
        proof = inclusion_proof(conn, refs[2], 1)  # event 1: the anchor's head is event 2
    witnessed_root = read_copies(folder).anchors[proof["anchor"]["id"]]["document"]["root"]
    assert proof["head"]["seq"] == 2 and len(proof["chain"]) == 1
    assert check_proof(proof, witnessed_root)
    doc = (ROOT / "docs" / "audit.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(# check_proof.*?)```", doc, re.S).group(1)
    namespace: dict = {}
    exec(compile(snippet, "docs/audit.md", "exec"), namespace)  # the auditor's few lines, as printed
    assert namespace["check_proof"](json.loads(json.dumps(proof)), witnessed_root)
    tampered = json.loads(json.dumps(proof))
    tampered["event"]["text"] = tampered["event"]["text"].replace('"trigger":"launch"', '"trigger":"withdraw"')
    assert tampered["event"]["text"] != proof["event"]["text"]
    assert not namespace["check_proof"](tampered, witnessed_root)


def test_witness_copies_need_the_deployments_key(engine, witness, tmp_path: Path) -> None:
    w, folder = witness
    _cases(engine, 1, T0)
    stranger = Witnessing(key=signing_key(tmp_path / "other.key"), urls=[f"eml://{tmp_path / 'forged'}"])
    anchor_now(engine, T0, witnessing=stranger, tsa=NO_TSA)
    deliver_witnesses(engine)
    with engine.reader() as conn:
        report = check_copies(conn, read_copies(tmp_path / "forged"), trusted_keys=_trusted(w))
    assert any("not by the deployment's anchor key" in p for p in report.problems)

