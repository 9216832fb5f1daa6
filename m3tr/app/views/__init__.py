"""What the REST API (``m3tr.app.api``) and the web UI (``m3tr.app.ui``) both show or accept:
a stored prediction gathered for display (``prediction``, its curves in ``curves``), a job's
state (``jobs``) and the intake of an upload (``uploads``). Both import from here and neither
imports the other (``scripts/import-graph``, rule f).
"""
