"""tallies: pre-aggregated counts per month for the compliance report and the risk map, kept by each
history event (states/tallies.py); cases.tallied; indexes on events.at, open tasks' due and critical cases.
An existing store's counts are built here from its rows and histories (one pass over every case).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""
import logging

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tallies',
    sa.Column('figure', sa.String(length=10), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('region', sa.String(length=8), nullable=False),
    sa.Column('algorithm', sa.String(length=60), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('body_id', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=80), nullable=False),
    sa.Column('detail', sa.String(length=200), nullable=False),
    *(sa.Column(f'n{i}', sa.Integer(), nullable=False) for i in range(1, 9)),
    sa.PrimaryKeyConstraint('figure', 'month', 'region', 'algorithm', 'version', 'body_id', 'kind', 'detail',
                            name=op.f('pk_tallies')),
    sqlite_with_rowid=False,
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tallied', sa.JSON(), nullable=True))
        batch_op.create_index('ix_cases_critical', ['region', 'algorithm', 'state'], unique=False,
                              sqlite_where=sa.text("critical = 1"), postgresql_where=sa.text("critical"))
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_at'), ['at'], unique=False)
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_open_due', ['due'], unique=False,
                              sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
    # The counts of the cases already in the store (the code of this revision: states/tallies.py).
    from states.tallies import rebuild
    log = logging.getLogger("alembic.runtime.migration")
    cases = rebuild(op.get_bind(), progress=lambda done, total: log.info("tallies: %d of %d cases", done, total))
    log.info("tallies built for %d cases", cases)


def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_open_due', sqlite_where=sa.text("status = 'open'"),
                            postgresql_where=sa.text("status = 'open'"))
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_at'))
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_critical', sqlite_where=sa.text("critical = 1"),
                            postgresql_where=sa.text("critical"))
        batch_op.drop_column('tallied')
    op.drop_table('tallies')
