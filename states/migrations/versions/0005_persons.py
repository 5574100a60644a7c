"""persons acting for bodies; the person on events, personal-data reads, migrations, tokens and web
sessions (OpenID Connect sign-in)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('persons',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('body_id', sa.String(length=80), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('position', sa.String(length=120), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('subject_hash', sa.String(length=64), nullable=True),
    sa.Column('account_hash', sa.String(length=64), nullable=True),
    sa.Column('source', sa.String(length=12), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=40), nullable=True),
    sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_sign_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['body_id'], ['bodies.id'], name=op.f('fk_persons_body_id_bodies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_persons')),
    sa.UniqueConstraint('subject_hash', name=op.f('uq_persons_subject_hash')),
    sa.UniqueConstraint('account_hash', name=op.f('uq_persons_account_hash'))
    )
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.create_index('ix_persons_body', ['body_id'], unique=False)
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person', sa.String(length=40), nullable=True))
        batch_op.create_index('ix_events_person', ['person'], unique=False)
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person', sa.String(length=40), nullable=True))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by', sa.String(length=40), nullable=True))
    with op.batch_alter_table('migrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person', sa.String(length=40), nullable=True))
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.alter_column('token_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('person_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('id_token', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('refresh_token', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('check_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_web_sessions_person_id_persons'), 'persons', ['person_id'], ['id'])
        batch_op.create_index('ix_web_sessions_person', ['person_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_web_sessions_person')
        batch_op.drop_constraint(batch_op.f('fk_web_sessions_person_id_persons'), type_='foreignkey')
        batch_op.drop_column('check_at')
        batch_op.drop_column('refresh_token')
        batch_op.drop_column('id_token')
        batch_op.drop_column('person_id')
        batch_op.alter_column('token_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('migrations', schema=None) as batch_op:
        batch_op.drop_column('person')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('created_by')
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.drop_column('person')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_person')
        batch_op.drop_column('person')
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_index('ix_persons_body')
    op.drop_table('persons')
