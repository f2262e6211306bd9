"""avc's application layer: the Typer CLI (and, in time, the registry, job runner and Textual TUI).

It drives the engine in :mod:`core` through its Python API and event callbacks.
"""
