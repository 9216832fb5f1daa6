"""Importers for the public datasets described in ``../shared/data/README.md``."""

from m3tr.core.datasets.base import DatasetError, ImportReport, Progress
from m3tr.core.datasets.ced_weibo import import_ced_weibo
from m3tr.core.datasets.microlens import import_microlens

IMPORTERS = {"ced-weibo": import_ced_weibo, "microlens": import_microlens}

__all__ = [
    "IMPORTERS",
    "DatasetError",
    "ImportReport",
    "Progress",
    "import_ced_weibo",
    "import_microlens",
]
