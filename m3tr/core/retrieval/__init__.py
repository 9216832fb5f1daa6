"""Memory bank and temporal-aware retrieval (paper §3.3, Eq. 3; App. H).

Modules (imported directly, so using one backend never imports the others):
- ``store``: ``Hit``, ``Filter``, the ``VectorStore`` Protocol and boundary checks.
- ``numpy_store`` (exact reference), ``faiss_store`` (flat / IVF-PQ), ``qdrant_store``
  (local mode or server); ``factory.open_store(StoreConfig)`` picks one.
- ``similarity``: Eq. 3, ``retrieve`` / ``retrieve_batch`` with content-only fallback.
- ``leakage``: the rules (no self-retrieval, train-only evaluation, matured-only service).
- ``bank``: bank versions in SQL (build, set_live, add/remove, delete).
- ``sources``: bank items from SQL; ``standin_temporal``: the event-bin trajectory stand-in.
- ``exact``: whole-bank Eq. 3 reference and recall; ``synthetic_bank``: clustered test vectors.
"""
