"""The case store's tables (SQLAlchemy Core). The schema itself is created by Alembic migrations
in `states/migrations/`; a test checks that the migrations match these definitions."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, MetaData,
                        String, Table, Text, TypeDecorator, UniqueConstraint, text)

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})



class UTCDateTime(TypeDecorator):
    """Aware UTC instants in, aware UTC instants out, on SQLite and PostgreSQL alike."""
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the case store; instants must be timezone-aware")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)

    def result_processor(self, dialect, coltype):
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        # SQLite keeps the text SQLAlchemy wrote ('YYYY-MM-DD HH:MM:SS.ffffff', UTC): parsed here in one
        # C call instead of SQLAlchemy's regular expression and a second pass (inbox rows carry two).
        fromisoformat = datetime.fromisoformat

        def process(value):
            return self.process_result_value(fromisoformat(value) if isinstance(value, str) else value, dialect)
        return process


UTC = UTCDateTime()

bodies = Table(
    "bodies", metadata,
    Column("id", String(80), primary_key=True),
    Column("type", String(40), nullable=False),
    Column("region", String(8)),
    Column("parent_id", String(80)),
    Column("code", String(20)),
    Column("name", JSON, nullable=False),
    Column("language", String(4)),
    Column("channels", JSON, nullable=False),
)

definitions = Table(
    "definitions", metadata,
    Column("algorithm", String(60), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("first_used_at", UTC, nullable=False),
)

subjects = Table(
    "subjects", metadata,
    Column("id", String(36), primary_key=True),
    # The child's personal data, encrypted with the subject's own data key (see personal_data.py);
    # never copied into a history or a message.
    Column("payload", JSON, nullable=False),
    Column("created_at", UTC, nullable=False),
    Column("erased_at", UTC),
)

# One data key per subject, wrapped by the deployment's master key. Erasure destroys it.
subject_keys = Table(
    "subject_keys", metadata,
    Column("subject_id", String(36), ForeignKey("subjects.id"), primary_key=True),
    Column("wrapped_key", Text),  # None once destroyed
    Column("master_key_id", String(40), nullable=False),
    Column("created_at", UTC, nullable=False),
    Column("destroyed_at", UTC),
)

# Every read of personal data: who, when, which case, why.
access_log = Table(
    "access_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject_id", String(36), nullable=False),
    Column("case_ref", String(40)),
    Column("actor", String(80), nullable=False),
    Column("purpose", String(200), nullable=False),  # a code of personal_data.PURPOSES
    Column("at", UTC, nullable=False),
    Column("outcome", String(20), nullable=False),  # read | refused | erased
    Column("note", String(200)),  # optional words beside the code; no IIN, cleared on erasure
    Column("person", String(40)),  # the person who read (a pseudonymous id, see `persons`)
)
Index("ix_access_log_case", access_log.c.case_ref, access_log.c.at)

# Anchors: a Merkle root over every case's chain head at a moment, taken every minute in which
# anything was written (states/anchor.py). `anchor_leaves` keeps the heads that changed at each
# anchor (the first anchor: all of them), `anchor_heads` the heads as of the latest anchor. Each
# anchor's signed witness document (states/witness.py) goes to outside witnesses; its RFC 3161
# time-stamp token, once a TSA gave it, is kept beside it.
anchors = Table(
    "anchors", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTC, nullable=False),
    Column("root", String(64), nullable=False),
    Column("cases", Integer, nullable=False),
    Column("document", Text),          # the canonical witness document (JSON), as signed and sent
    Column("doc_hash", String(64)),    # sha256 of `document`: what the TSA time-stamps, the next one's `prev`
    Column("signature", Text),         # Ed25519 over `document`, base64
    Column("tsa_token", Text),         # the TSA's TimeStampResp, base64 (None: not yet obtained)
    Column("tsa_time", UTC),
    Column("events_upto", Integer),    # the highest event id when it was taken (where the next looks from)
)

anchor_heads = Table(
    "anchor_heads", metadata,
    Column("ref", String(40), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("leaf", String(64), nullable=False),  # sha256("ref|seq|hash"): an unchanged head is not hashed again
)

anchor_leaves = Table(
    "anchor_leaves", metadata,
    Column("anchor_id", Integer, ForeignKey("anchors.id"), primary_key=True),
    Column("ref", String(40), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)
Index("ix_anchor_leaves_ref", anchor_leaves.c.ref)

# When the sweep ran, so an auditor can check each escalation step was taken on time.
sweep_runs = Table(
    "sweep_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", UTC, nullable=False),
    Column("now", UTC, nullable=False),  # the moment the sweep took steps up to
    Column("finished_at", UTC),
    Column("processed", Integer, nullable=False, default=0),
)

cases = Table(
    "cases", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ref", String(40), nullable=False, unique=True),
    Column("algorithm", String(60), nullable=False),
    Column("algorithm_version", Integer, nullable=False),
    Column("definition_hash", String(64), nullable=False),
    Column("overrides", JSON),  # deployment deadline overrides in force at launch (replay needs them)
    Column("region", String(8), nullable=False),
    Column("state", String(60), nullable=False),
    Column("state_entered_at", UTC, nullable=False),
    Column("entered_by", String(60), nullable=False),
    Column("outcome", String(60)),
    Column("critical", Boolean, nullable=False, default=False),
    Column("version", Integer, nullable=False),  # = number of events; optimistic concurrency
    Column("task_seq", Integer, nullable=False, default=0),  # last task key number used
    Column("subject_id", String(36), ForeignKey("subjects.id")),
    Column("data", JSON, nullable=False),       # non-personal case data
    Column("bindings", JSON, nullable=False),   # role -> body id
    Column("unique_key", String(200), unique=True),  # e.g. plan-reporting (period, executor)
    Column("created_at", UTC, nullable=False),
    Column("updated_at", UTC, nullable=False),
    Column("closed_at", UTC),
    Column("head_hash", String(64), nullable=False),
    Column("tallied", JSON),  # what the case adds to `tallies` (states/tallies.py), kept by each event
)
Index("ix_cases_region_algorithm_state", cases.c.region, cases.c.algorithm, cases.c.state)
# The map's critical cases: the few flagged, without reading every case row.
Index("ix_cases_critical", cases.c.region, cases.c.algorithm, cases.c.state, sqlite_where=text("critical = 1"),
      postgresql_where=text("critical"))

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", UTC, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("trigger", String(60), nullable=False),
    Column("data", JSON, nullable=False),
    Column("from_state", String(60)),
    Column("to_state", String(60), nullable=False),
    Column("effects", JSON, nullable=False),
    Column("algorithm_version", Integer, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("person", String(40)),  # the person who acted for the body (pseudonymous id; hashed with the event)
    UniqueConstraint("case_id", "seq", name="uq_events_case_seq"),
)
Index("ix_events_at", events.c.at)  # the latest write: when the tallies answer for `now` (states/tallies.py)

tasks = Table(
    "tasks", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("key", String(20), nullable=False),  # stable id within the case: t1, t2, ...
    Column("kind", String(80), nullable=False),
    Column("role", String(60), nullable=False),
    Column("body_id", String(80), nullable=False),
    Column("state", String(60)),  # the state that opened it (None: opened by a trigger or escalation)
    Column("opened_at", UTC, nullable=False),
    Column("due", UTC, nullable=False),
    Column("deadline", JSON, nullable=False),  # the rule, e.g. {"working_days": 1}
    Column("ladder", String(20), nullable=False),
    Column("persistent", Boolean, nullable=False),
    Column("status", String(12), nullable=False),  # open | done | cancelled
    Column("overdue", Boolean, nullable=False, default=False),
    Column("serves", String(20)),  # ensure_completion: the key of the task it serves
    Column("closed_at", UTC),
    Column("cancelled_by", Integer),  # the seq of the event that cancelled it (rule C3)
    UniqueConstraint("case_id", "key", name="uq_tasks_case_key"),
)
Index("ix_tasks_body_open", tasks.c.body_id, tasks.c.status, tasks.c.due)
Index("ix_tasks_case_status", tasks.c.case_id, tasks.c.status)
# Open tasks by due: those not yet due at `now` (the compliance report's tallies subtract them), the
# map's overdue tasks of the present month. Covering (the report reads no task row: at 120,000 cases
# 5 ms instead of 10 - 13, docs/performance.md "A national year"; `status` too, or SQLite would not
# take it as covering).
Index("ix_tasks_open_due", tasks.c.due, tasks.c.opened_at, tasks.c.body_id, tasks.c.kind, tasks.c.case_id,
      tasks.c.status, sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'"))

# Pre-aggregated counts per month for the compliance report and the risk map (states/tallies.py):
# one row per figure and key, kept by every history event's transaction.
tallies = Table(
    "tallies", metadata,
    Column("figure", String(10), primary_key=True),
    Column("month", String(7), primary_key=True),   # YYYY-MM, Kazakhstan time
    Column("region", String(8), primary_key=True),
    Column("algorithm", String(60), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("body_id", String(80), primary_key=True),
    Column("kind", String(80), primary_key=True),
    Column("detail", String(200), primary_key=True),
    *(Column(f"n{i}", Integer, nullable=False, default=0) for i in range(1, 9)),
    sqlite_with_rowid=False,  # rows kept in key order: a month range of a figure is read in one pass
)

# Escalation steps and state timers: everything the sweep must do at a moment.
steps = Table(
    "steps", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("task_key", String(20)),  # ladder steps: the task; timers: None
    Column("kind", String(20), nullable=False),  # reminder | overdue | escalation | critical | timer
    Column("name", String(60)),  # timer name
    Column("due_at", UTC, nullable=False),
    Column("status", String(12), nullable=False),  # pending | done | cancelled
    Column("taken_at", UTC),
)
Index("ix_steps_pending_due", steps.c.due_at, sqlite_where=text("status = 'pending'"),
      postgresql_where=text("status = 'pending'"))
Index("ix_steps_case_status", steps.c.case_id, steps.c.status)

outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id")),  # None: an anchor for the witnesses
    Column("event_seq", Integer),
    Column("template", String(40), nullable=False),
    Column("body_id", String(80), nullable=False),
    Column("task_key", String(20)),
    Column("context", JSON, nullable=False),  # what the template needs; never personal data
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("status", String(12), nullable=False),  # pending | sent | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UTC, nullable=False),
    Column("next_attempt_at", UTC),
    Column("sent_at", UTC),
    Column("last_error", Text),
    Column("lease_owner", String(80)),  # the delivery worker holding the message, until lease_until
    Column("lease_until", UTC),
)
Index("ix_outbox_pending", outbox.c.created_at, sqlite_where=text("status = 'pending'"),
      postgresql_where=text("status = 'pending'"))

case_links = Table(
    "case_links", metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("other_case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("relation", String(20), primary_key=True),  # spawned | spawned_from | linked
    Column("created_at", UTC, nullable=False),
)

# API tokens: stored hashed; each bound to one body and one role.
api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 of the secret
    Column("prefix", String(12), nullable=False),  # the first characters, to tell tokens apart
    Column("body_id", String(80), ForeignKey("bodies.id"), nullable=False),
    Column("role", String(20), nullable=False),  # coordinator | agency | auditor | admin
    Column("label", String(200)),
    Column("created_at", UTC, nullable=False),
    Column("revoked_at", UTC),
    Column("last_used_at", UTC),
    Column("created_by", String(40)),  # the person who created it (None: the local operator)
)

# Web sign-in sessions (app/web): the cookie holds a random id, the store only its hash. Signing
# out deletes the row, revoking the token deletes its rows; `expires_at` ends it at the latest.
web_sessions = Table(
    "web_sessions", metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 of the id in the cookie
    Column("token_id", Integer, ForeignKey("api_tokens.id")),  # a token sign-in ...
    Column("person_id", String(40), ForeignKey("persons.id")),  # ... or a person's (OpenID Connect)
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTC, nullable=False),
    Column("expires_at", UTC, nullable=False),
    Column("id_token", Text),        # the provider's ID token: the hint for ending the provider session
    Column("refresh_token", Text),   # to ask the provider again whether the person may still sign in
    Column("check_at", UTC),         # when to ask it next
)
Index("ix_web_sessions_token", web_sessions.c.token_id)
Index("ix_web_sessions_person", web_sessions.c.person_id)

# Migrations of running cases to another version of their algorithm (../shared/spec/migration.md):
# one row per plan or run, with who asked, the selection and the outcome; each moved case also has
# its own `migrated` event in its history.
migrations = Table(
    "migrations", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("algorithm", String(60), nullable=False),
    Column("from_version", Integer, nullable=False),
    Column("to_version", Integer, nullable=False),
    Column("migration_hash", String(64), nullable=False),
    Column("region", String(8)),
    Column("state", String(60)),
    Column("dry_run", Boolean, nullable=False),
    Column("actor", String(80), nullable=False),   # the body that asked (or `system` / the operator)
    Column("person", String(40)),                  # the person who asked
    Column("role", String(20), nullable=False),
    Column("status", String(12), nullable=False),  # planned | running | done | failed
    Column("created_at", UTC, nullable=False),
    Column("finished_at", UTC),
    Column("total", Integer, nullable=False, default=0),
    Column("moved", Integer, nullable=False, default=0),
    Column("skipped", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("not_migratable", Integer, nullable=False, default=0),
    Column("report", JSON),  # the plan's counts and the cases skipped or not migratable, with reasons
)

# People who act for a body: an administrator creates them, or they are provisioned at their first
# OpenID Connect sign-in from the provider's claims. Histories and logs carry only `id` (random,
# pseudonymous); the name lives here alone and is erased like a child's data.
persons = Table(
    "persons", metadata,
    Column("id", String(40), primary_key=True),           # p_ + 16 random hex digits
    Column("body_id", String(80), ForeignKey("bodies.id"), nullable=False),
    Column("role", String(20), nullable=False),           # coordinator | agency | auditor | admin
    Column("position", String(120)),
    Column("name", String(200)),                          # None once erased
    Column("subject_hash", String(64), unique=True),      # sha256(issuer | sub) of the provider account
    Column("account_hash", String(64), unique=True),      # sha256(issuer | user name): an admin-created
                                                          # person's account, linked at the first sign-in
    Column("source", String(12), nullable=False),         # admin | oidc
    Column("active", Boolean, nullable=False),
    Column("created_at", UTC, nullable=False),
    Column("created_by", String(40)),
    Column("deactivated_at", UTC),
    Column("erased_at", UTC),
    Column("last_sign_in_at", UTC),
)
Index("ix_persons_body", persons.c.body_id)
Index("ix_events_person", events.c.person)
