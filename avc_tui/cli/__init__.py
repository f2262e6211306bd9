"""The ``avc`` command line: one small module per group of commands (``launch``: run and grid;
``lifecycle``: cancel, resume, rm; ``browse``: ls, show, compare, export; ``predict``: predict
and attention; ``data``: data and extract; ``catalog``: models; ``demo``), each parsing its
options, calling :mod:`avc_tui.control` and rendering with Rich. ``app`` registers them."""

from avc_tui.cli.app import app, main

__all__ = ["app", "main"]
