"""avc's PyTorch engine: video in, features, temporal heads, training, evaluation, prediction.

Nothing here imports the application layer (CLI, registry, TUI); progress and metrics leave through
the event callbacks in :mod:`core.events`.
"""

import logging

# A library logs, the application decides where the lines go (avc_tui.logs): without that, none
# reach the terminal (not even through logging's last-resort handler).
logging.getLogger(__name__).addHandler(logging.NullHandler())
