"""model registry (one active version per kind) and the history of forecasts

- ``model_versions.activated_at`` (what rollback goes back by) and a partial unique index: at
  most one row with ``is_active`` per ``kind``. Rows that broke that rule before (several active
  versions of one kind) keep only the newest one active.
- ``predictions`` keeps every forecast: ``n_events`` and ``observed_until_s`` say which log it
  was made from, and the unique key becomes (video, model version, events seen).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_models = sa.table(
    "model_versions",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("is_active", sa.Boolean),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("activated_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True))
    newest_active = (
        sa.select(sa.func.max(_models.c.id))
        .where(_models.c.is_active.is_(True))
        .group_by(_models.c.kind)
    )
    op.execute(
        _models.update()
        .where(_models.c.is_active.is_(True), _models.c.id.not_in(newest_active))
        .values(is_active=False)
    )
    op.execute(
        _models.update()
        .where(_models.c.is_active.is_(True))
        .values(activated_at=_models.c.created_at)
    )
    op.create_index(
        "uq_model_versions_one_active_per_kind",
        "model_versions",
        ["kind"],
        unique=True,
        sqlite_where=sa.text("is_active"),
        postgresql_where=sa.text("is_active"),
    )
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("n_events", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("observed_until_s", sa.Float(), nullable=True))
        batch_op.drop_constraint("uq_predictions_video_model", type_="unique")
        batch_op.create_unique_constraint(
            "uq_predictions_video_model_events", ["video_id", "model_version_id", "n_events"]
        )


def downgrade() -> None:
    # the history keeps several rows per (video, model): keep the newest of each
    preds = sa.table(
        "predictions",
        sa.column("id", sa.Integer),
        sa.column("video_id", sa.Integer),
        sa.column("model_version_id", sa.Integer),
    )
    newest = sa.select(sa.func.max(preds.c.id)).group_by(preds.c.video_id, preds.c.model_version_id)
    op.execute(preds.delete().where(preds.c.id.not_in(newest)))
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_predictions_video_model_events", type_="unique")
        batch_op.create_unique_constraint(
            "uq_predictions_video_model", ["video_id", "model_version_id"]
        )
        batch_op.drop_column("observed_until_s")
        batch_op.drop_column("n_events")
    op.drop_index("uq_model_versions_one_active_per_kind", table_name="model_versions")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_column("activated_at")
