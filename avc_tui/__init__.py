"""avc's application: the Typer CLI (``cli``) and the Textual TUI (``tui``), the control layer
both call for every operation that changes state or starts work (``control``), the experiment
registry (``registry``) and the executors that turn registered runs into processes (``runner``).

It drives the engine in :mod:`core` through its Python API and event callbacks.
"""

import logging

# Log lines go where avc_tui.logs.configure sends them (-v, a worker's log file), else nowhere.
logging.getLogger(__name__).addHandler(logging.NullHandler())
