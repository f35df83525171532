"""history indexes: every list on the account pages read newest first from an index

Revision ID: b7e2d4f1c9a3
Revises: c7d2e9f14a6b
Create Date: 2026-12-01 11:30:00

"""
from alembic import op


revision = 'b7e2d4f1c9a3'
down_revision = 'c7d2e9f14a6b'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_login_sessions_user_id_last_seen_at', 'login_sessions', ['user_id', 'last_seen_at', 'id']),
    ('ix_login_attempts_user_id_at', 'login_attempts', ['user_id', 'at', 'id']),
    ('ix_consent_records_user_id_decided_at', 'consent_records', ['user_id', 'decided_at', 'id']),
    ('ix_newsletter_subscription_events_user_id_at', 'newsletter_subscription_events', ['user_id', 'at', 'id']),
)


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade():
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
