"""avc's application: the Typer CLI (``cli``) and the Textual TUI (``tui``), the control layer
both call for every operation that changes state or starts work (``control``), the experiment
registry (``registry``) and the executors that turn registered runs into processes (``runner``).

It drives the engine in :mod:`core` through its Python API and event callbacks.
"""
