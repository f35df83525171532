"""i18n: the account's language, the language each consent proof was shown in, issue texts per language

Revision ID: c4e8a2f6b1d3
Revises: b7e2d4f1c9a3
Create Date: 2026-12-01 11:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c4e8a2f6b1d3'
down_revision = 'b7e2d4f1c9a3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=16), nullable=True))
    # Everything recorded before this revision was shown in English.
    with op.batch_alter_table('consent_snapshots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=16), nullable=False, server_default='en'))
    with op.batch_alter_table('consent_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=16), nullable=False, server_default='en'))
    op.create_table('newsletter_issue_texts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issue_id', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body_markdown', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['newsletter_issues.id'], name=op.f('fk_newsletter_issue_texts_issue_id_newsletter_issues'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_newsletter_issue_texts')),
    sa.UniqueConstraint('issue_id', 'language', name='uq_newsletter_issue_texts_issue_language')
    )


def downgrade():
    op.drop_table('newsletter_issue_texts')
    with op.batch_alter_table('consent_records', schema=None) as batch_op:
        batch_op.drop_column('language')
    with op.batch_alter_table('consent_snapshots', schema=None) as batch_op:
        batch_op.drop_column('language')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('language')
