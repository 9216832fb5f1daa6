"""Alembic revisions, shipped inside the package (found with ``importlib.resources``)."""
