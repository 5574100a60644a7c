"""anchors every minute: changed heads only, the witness document, its signature and TSA token;
outbox rows for the witnesses (no case)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
import hashlib

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('anchors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('document', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('doc_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('signature', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('tsa_token', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('tsa_time', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('events_upto', sa.Integer(), nullable=True))
    op.create_table('anchor_heads',
    sa.Column('ref', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('leaf', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('ref', name=op.f('pk_anchor_heads'))
    )
    # The heads as of the latest anchor of an existing store (its anchors kept every head).
    bind = op.get_bind()
    latest = bind.execute(sa.text("SELECT ref, seq, hash FROM anchor_leaves "
                                  "WHERE anchor_id = (SELECT MAX(id) FROM anchors)")).all()
    if latest:
        heads = sa.table('anchor_heads', sa.column('ref'), sa.column('seq'), sa.column('hash'), sa.column('leaf'))
        op.bulk_insert(heads, [{"ref": r, "seq": s, "hash": h,
                                "leaf": hashlib.sha256(f"{r}|{s}|{h}".encode()).hexdigest()} for r, s, h in latest])
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('case_id', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('event_seq', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('event_seq', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('case_id', existing_type=sa.Integer(), nullable=False)
    op.drop_table('anchor_heads')
    with op.batch_alter_table('anchors', schema=None) as batch_op:
        batch_op.drop_column('events_upto')
        batch_op.drop_column('tsa_time')
        batch_op.drop_column('tsa_token')
        batch_op.drop_column('signature')
        batch_op.drop_column('doc_hash')
        batch_op.drop_column('document')
