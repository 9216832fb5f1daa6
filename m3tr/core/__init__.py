"""M3TR core library: events, temporal (MHP), content, retrieval, fusion, evaluation. No gradio/celery/settings imports."""
