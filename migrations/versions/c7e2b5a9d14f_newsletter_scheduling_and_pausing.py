"""newsletter: issues can be scheduled (picked up by the delivery workers) and paused

Revision ID: c7e2b5a9d14f
Revises: a1f3c9d2e7b4
Create Date: 2026-12-01 11:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c7e2b5a9d14f'
down_revision = 'a1f3c9d2e7b4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('newsletter_issues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scheduled_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('schedule_second', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('schedule_reason', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('schedule_claimed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('schedule_error', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('paused_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_newsletter_issues_scheduled_at'), ['scheduled_at'], unique=False)


def downgrade():
    with op.batch_alter_table('newsletter_issues', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_newsletter_issues_scheduled_at'))
        batch_op.drop_column('paused_at')
        batch_op.drop_column('schedule_error')
        batch_op.drop_column('schedule_claimed_at')
        batch_op.drop_column('schedule_reason')
        batch_op.drop_column('schedule_second')
        batch_op.drop_column('scheduled_at')
