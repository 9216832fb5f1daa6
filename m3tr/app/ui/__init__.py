"""The Gradio UI: ``blocks.build_demo(services)`` assembles one module per tab
(``predict_tab``, ``lookalikes_tab``, ``ingestion_tab``, ``model_tab``); their handlers are
plain functions in ``handlers/`` (testable without a browser); figures come from ``plots``.
"""
