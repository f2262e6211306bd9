"""``python -m avc_tui``: the same as the ``avc`` command."""

from avc_tui.cli import main

main()
