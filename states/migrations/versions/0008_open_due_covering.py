"""tasks: the open tasks' due index covers what the compliance report reads of them (opened_at,
body_id, kind, case_id, status), so the report reads no task row (docs/performance.md, "A national
year").

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

OPEN = {"sqlite_where": sa.text("status = 'open'"), "postgresql_where": sa.text("status = 'open'")}


def upgrade() -> None:
    op.drop_index('ix_tasks_open_due', table_name='tasks', **OPEN)
    op.create_index('ix_tasks_open_due', 'tasks', ['due', 'opened_at', 'body_id', 'kind', 'case_id', 'status'],
                    unique=False, **OPEN)


def downgrade() -> None:
    op.drop_index('ix_tasks_open_due', table_name='tasks', **OPEN)
    op.create_index('ix_tasks_open_due', 'tasks', ['due'], unique=False, **OPEN)
