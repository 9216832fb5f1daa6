"""The REST API beside the UI (OpenAPI at ``/docs``): videos, jobs, predictions, health."""
