"""staff: the desk's case files and replies, the access log, the breach register, purge runs

Revision ID: c7d2e9f14a6b
Revises: c7e2b5a9d14f
Create Date: 2026-12-01 11:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c7d2e9f14a6b'
down_revision = 'c7e2b5a9d14f'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('staff_accesses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('staff_email', sa.String(length=320), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('viewed', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_staff_accesses_at'), 'staff_accesses', ['at'], unique=False)
    op.create_index(op.f('ix_staff_accesses_user_id'), 'staff_accesses', ['user_id'], unique=False)
    op.create_table('staff_case_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inquiry_id', sa.Integer(), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('original_due_at', sa.DateTime(), nullable=True),
    sa.Column('extended_at', sa.DateTime(), nullable=True),
    sa.Column('extension_months', sa.Integer(), nullable=True),
    sa.Column('extension_reason', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['inquiry_id'], ['privacy_inquiries.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('inquiry_id')
    )
    op.create_table('staff_case_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inquiry_id', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.Column('staff_email', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['inquiry_id'], ['privacy_inquiries.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_staff_case_replies_inquiry_id'), 'staff_case_replies', ['inquiry_id'], unique=False)
    op.create_table('staff_breaches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('recorded_by', sa.String(length=320), nullable=False),
    sa.Column('discovered_at', sa.DateTime(), nullable=False),
    sa.Column('summary', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('inquiry_id', sa.Integer(), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('decision_reason', sa.Text(), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('authority_notified_at', sa.DateTime(), nullable=True),
    sa.Column('people_informed', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['inquiry_id'], ['privacy_inquiries.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_staff_breaches_discovered_at'), 'staff_breaches', ['discovered_at'], unique=False)
    op.create_table('staff_purge_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=False),
    sa.Column('counts', sa.Text(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_staff_purge_runs_started_at'), 'staff_purge_runs', ['started_at'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_staff_purge_runs_started_at'), table_name='staff_purge_runs')
    op.drop_table('staff_purge_runs')
    op.drop_index(op.f('ix_staff_breaches_discovered_at'), table_name='staff_breaches')
    op.drop_table('staff_breaches')
    op.drop_index(op.f('ix_staff_case_replies_inquiry_id'), table_name='staff_case_replies')
    op.drop_table('staff_case_replies')
    op.drop_table('staff_case_files')
    op.drop_index(op.f('ix_staff_accesses_user_id'), table_name='staff_accesses')
    op.drop_index(op.f('ix_staff_accesses_at'), table_name='staff_accesses')
    op.drop_table('staff_accesses')
