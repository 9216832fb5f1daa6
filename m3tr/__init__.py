"""m3tr: engagement forecasts for short videos (the M3TR method) and the service around them.

One importable namespace:

- :mod:`m3tr.core` -- the library: events, the Mamba-Hawkes process, content encoders, the
  memory bank and Eq. 3 retrieval, the fusion model, training, evaluation, pipeline steps.
  It never reads settings and imports no web or queue framework.
- :mod:`m3tr.app` -- settings, the CLI (``m3tr``), the REST API and the Gradio UI.
- :mod:`m3tr.workers` -- the Celery workers (and the embedded broker of the default setup).
- :mod:`m3tr.bench` -- ``m3tr bench AREA``; results live in ``benchmarks/`` of the repository.
"""
