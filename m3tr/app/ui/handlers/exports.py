"""The forecasts export behind the UI's download button (same rows as the REST export)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

from m3tr.app.records import export_columns, iter_export_rows, write_table
from m3tr.app.services import Services
from m3tr.core.db.listing import Filters

log = logging.getLogger(__name__)
KEEP_S = 3600.0  # exports older than this are removed when the next one is made


def export_csv(services: Services) -> Path:
    """Every forecast as CSV in the workspace's ``exports`` folder; returns the file."""
    folder = services.settings.home / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in folder.glob("m3tr-predictions-*.csv"):
        if now - old.stat().st_mtime > KEEP_S:
            old.unlink(missing_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"m3tr-predictions-{stamp}.csv"
    part = path.with_suffix(".part")
    types = list(services.settings.event_types)
    n = write_table(iter_export_rows(services.sessions, Filters(), types), export_columns(types),
                    part, "csv")  # fmt: skip
    part.replace(path)
    log.info("exported %d forecasts to %s", n, path.name)
    return path
