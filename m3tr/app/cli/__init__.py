"""The ``m3tr`` command line (Typer). One module per command group."""
