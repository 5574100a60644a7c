"""anchors every minute: changed heads only, the witness document, its signature and TSA token;
outbox rows for the witnesses (no case)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
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
    op.create_table('anchor_heads',
    sa.Column('ref', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('ref', name=op.f('pk_anchor_heads'))
    )
    # The heads as of the latest anchor of an existing store (its anchors kept every head).
    op.execute("INSERT INTO anchor_heads (ref, seq, hash) SELECT ref, seq, hash FROM anchor_leaves "
               "WHERE anchor_id = (SELECT MAX(id) FROM anchors)")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('case_id', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('event_seq', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('event_seq', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('case_id', existing_type=sa.Integer(), nullable=False)
    op.drop_table('anchor_heads')
    with op.batch_alter_table('anchors', schema=None) as batch_op:
        batch_op.drop_column('tsa_time')
        batch_op.drop_column('tsa_token')
        batch_op.drop_column('signature')
        batch_op.drop_column('doc_hash')
        batch_op.drop_column('document')
