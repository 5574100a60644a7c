"""The one handler of each command: it checks the caller's role and scope, runs the command in one
transaction (the engine's, or the personal-data store's), and raises the spec's coded error.

Every entrypoint (API, pages, CLI, flows) sends its commands here; the HTTP status of an error is
chosen once, from its code, at the edge (app/errors.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from . import tables as T
from .access import (FIRE, LAUNCH, TOKENS, Principal, check_case, check_launch, check_migration, check_personal,
                     require_role)
from .clock import as_utc, utcnow
from .commands import (Command, CreatePerson, CreateToken, DeactivatePerson, ErasePerson, ErasePersonalData,
                       FinishMigration, Fire, Launch, MigrateCase, PlanMigration, ReadPersonalData, RevokeToken,
                       SignInPerson, StartMigration, Transfer)
from .db import scrub
from .errors import RuleViolation
from .migration import Moved, Selection, SelectionPlan, check_selection, migrate_case, plan_selection
from .migration_runs import count_moved, finish_run, open_run, record_plan
from .personal_data import check_purpose, erase_subject, read_personal, subject_of_case
from .persons import (Person, account_hash, create_person, deactivate_person, erase_person, find_by_subject,
                      find_unlinked_account, signed_in, signed_in_admin_created)
from .queries import load_case_row
from .tokens import Token, create_token, revoke_token


@dataclass(frozen=True)
class Erased:
    """What an erasure did: the subject, its cases, and whether the store files are clean yet."""
    subject_id: str
    refs: tuple[str, ...]
    scrubbed: bool


class Handler:
    """Handles commands on one engine. `handle(command, caller)`; `now` only for simulations."""

    def __init__(self, engine):
        self.engine = engine
        self._by_type = {Launch: self.launch, Fire: self.fire, Transfer: self.transfer,
                         ReadPersonalData: self.read_personal_data, ErasePersonalData: self.erase_personal_data,
                         CreateToken: self.create_token, RevokeToken: self.revoke_token,
                         PlanMigration: self.plan_migration, StartMigration: self.start_migration,
                         MigrateCase: self.migrate_case, FinishMigration: self.finish_migration,
                         CreatePerson: self.create_person, DeactivatePerson: self.deactivate_person,
                         ErasePerson: self.erase_person, SignInPerson: self.sign_in_person}

    def handle(self, command: Command, caller: Principal, *, now: datetime | None = None) -> Any:
        handler = self._by_type.get(type(command))
        if handler is None:
            raise TypeError(f"no handler for {type(command).__name__}")
        return handler(command, caller, now)

    # ------------------------------------------------------------------ cases
    def launch(self, cmd: Launch, caller: Principal, now: datetime | None):
        require_role(caller, LAUNCH, "launching a case")
        check_launch(caller, cmd.region)
        return self.engine.launch(cmd.algorithm, cmd.region, caller.body_id, dict(cmd.data or {}), now=now,
                                  version=cmd.version, person=caller.person_id)

    def fire(self, cmd: Fire, caller: Principal, now: datetime | None):
        require_role(caller, FIRE, "firing a trigger")
        directory = self.engine.svc.directory

        def in_scope(case) -> None:  # on the case as loaded for the write, and on every case it names
            check_case(caller, directory, case.ref, case.region, case.bindings)

        return self.engine.fire(cmd.ref, cmd.trigger, caller.body_id, dict(cmd.data or {}), now=now,
                                expected_version=cmd.expected_version, check=in_scope, person=caller.person_id)

    def transfer(self, cmd: Transfer, caller: Principal, now: datetime | None):
        data = {"to_region": cmd.to_region, **({"to_school": cmd.to_school} if cmd.to_school else {})}
        return self.fire(Fire(cmd.ref, "transfer", data, cmd.expected_version), caller, now)

    # ------------------------------------------------------------------ personal data
    def read_personal_data(self, cmd: ReadPersonalData, caller: Principal, now: datetime | None) -> dict:
        note = check_purpose(cmd.purpose, cmd.note)
        with self.engine.reader() as conn:
            row = load_case_row(conn, cmd.ref)
        check_case(caller, self.engine.svc.directory, row.ref, row.region, row.bindings)
        check_personal(caller, row.ref, row.region, row.bindings)
        return read_personal(self.engine.db, actor=caller.body_id, person=caller.person_id, purpose=cmd.purpose,
                             note=note, case_ref=row.ref, now=now)

    def erase_personal_data(self, cmd: ErasePersonalData, caller: Principal, now: datetime | None) -> Erased:
        if not caller.trusted and caller.role != "admin":
            raise RuleViolation("forbidden", "erasing personal data is for an administrator")
        with self.engine.db.begin() as conn:
            found = conn.execute(select(T.subjects.c.id).where(T.subjects.c.id == cmd.subject)).first()
            subject_id = found.id if found else subject_of_case(conn, cmd.subject)
            refs = tuple(conn.execute(select(T.cases.c.ref).where(T.cases.c.subject_id == subject_id)
                                      .order_by(T.cases.c.id)).scalars())
            erase_subject(conn, subject_id, actor=caller.body_id, now=now or utcnow(),
                          retention_days=cmd.retention_days, force=cmd.force, purpose=cmd.note)
        return Erased(subject_id, refs, scrub(self.engine.db))

    # ------------------------------------------------------------------ tokens
    def create_token(self, cmd: CreateToken, caller: Principal, now: datetime | None) -> tuple[str, Token]:
        require_role(caller, TOKENS, "token management")
        return create_token(self.engine.db, cmd.body_id, cmd.role, cmd.label, now=now, created_by=caller.person_id)

    def revoke_token(self, cmd: RevokeToken, caller: Principal, now: datetime | None) -> Token:
        require_role(caller, TOKENS, "token management")
        return revoke_token(self.engine.db, cmd.token, now=now)

    # ------------------------------------------------------------------ migrations
    def plan_migration(self, cmd: PlanMigration, caller: Principal, now: datetime | None) -> tuple[int | None, SelectionPlan]:
        check_migration(caller)
        selection = Selection(cmd.algorithm, cmd.to_version, cmd.region, cmd.state)
        plan = plan_selection(self.engine, selection, as_utc(now or utcnow()))
        run_id = record_plan(self.engine.db, plan, caller, as_utc(now or utcnow())) if cmd.record else None
        return run_id, plan

    def start_migration(self, cmd: StartMigration, caller: Principal, now: datetime | None) -> int:
        check_migration(caller)
        selection = Selection(cmd.algorithm, cmd.to_version, cmd.region, cmd.state)
        check_selection(self.engine.registry, self.engine.svc.directory, selection)
        return open_run(self.engine.db, self.engine.registry, selection, caller, cmd.total, as_utc(now or utcnow()))

    def migrate_case(self, cmd: MigrateCase, caller: Principal, now: datetime | None) -> Moved:
        check_migration(caller)
        directory = self.engine.svc.directory
        now = as_utc(now or utcnow())

        def in_scope(case) -> None:
            check_case(caller, directory, case.ref, case.region, case.bindings)

        with self.engine.db.begin() as conn:
            moved = migrate_case(self.engine, conn, cmd.ref, Selection(cmd.algorithm, cmd.to_version), caller.body_id,
                                 now, expected_version=cmd.expected_version, check=in_scope, person=caller.person_id)
            if cmd.run_id is not None:
                count_moved(conn, cmd.run_id, moved.moved)
        if moved.moved:
            self.engine.announce(cmd.ref)
        return moved

    def finish_migration(self, cmd: FinishMigration, caller: Principal, now: datetime | None) -> dict:
        check_migration(caller)
        return finish_run(self.engine.db, cmd.run_id, cmd.report, cmd.failed, as_utc(now or utcnow()))

    # ------------------------------------------------------------------ persons
    def create_person(self, cmd: CreatePerson, caller: Principal, now: datetime | None) -> Person:
        require_role(caller, TOKENS, "managing persons")
        account = account_hash(cmd.account) if cmd.account else None
        return create_person(self.engine.db, cmd.body_id, cmd.role, cmd.name, cmd.position,
                             created_by=caller.person_id, account=account, now=now)

    def deactivate_person(self, cmd: DeactivatePerson, caller: Principal, now: datetime | None) -> Person:
        require_role(caller, TOKENS, "managing persons")
        return deactivate_person(self.engine.db, cmd.person_id, now=now)

    def erase_person(self, cmd: ErasePerson, caller: Principal, now: datetime | None) -> Person:
        require_role(caller, TOKENS, "managing persons")
        return erase_person(self.engine.db, cmd.person_id, now=now)

    def sign_in_person(self, cmd: SignInPerson, caller: Principal, now: datetime | None) -> Person:
        """Only the sign-in itself (the trusted web process, after validating the provider's tokens)."""
        if not caller.trusted:
            raise RuleViolation("forbidden", "a person signs in through the identity provider")
        with self.engine.reader() as conn:
            person = find_by_subject(conn, cmd.subject)
            if person is None and cmd.account is not None:
                person = find_unlinked_account(conn, cmd.account)
        mapped = cmd.body_id is not None and cmd.role is not None
        if person is None:
            if not mapped:
                raise RuleViolation("forbidden", "your account at the identity provider is not given any body or "
                                                 "role in Qorgau; ask your administrator")
            person = create_person(self.engine.db, cmd.body_id, cmd.role, cmd.name, source="oidc",
                                   subject=cmd.subject, now=now)
        if not person.active:
            raise RuleViolation("forbidden", f"person {person.id} is deactivated in Qorgau; ask an administrator")
        if person.source == "admin":
            return signed_in_admin_created(self.engine.db, person.id, cmd.subject, cmd.name, now=now)
        if not mapped:
            raise RuleViolation("forbidden", "your account at the identity provider no longer gives you a body or "
                                             "role in Qorgau; ask your administrator")
        return signed_in(self.engine.db, person.id, cmd.body_id, cmd.role, cmd.name, now=now)
