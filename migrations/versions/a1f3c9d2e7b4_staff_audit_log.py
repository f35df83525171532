"""staff: the append-only audit log of staff actions

Revision ID: a1f3c9d2e7b4
Revises: 725a3b981f6d
Create Date: 2026-12-01 11:05:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'a1f3c9d2e7b4'
down_revision = '725a3b981f6d'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('staff_actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('staff_email', sa.String(length=320), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_staff_actions_at'), 'staff_actions', ['at'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_staff_actions_at'), table_name='staff_actions')
    op.drop_table('staff_actions')
