"""avc's PyTorch engine: video in, features, temporal heads, training, evaluation, prediction.

Nothing here imports the application layer (CLI, registry, TUI); progress and metrics leave through
the event callbacks in :mod:`core.events`.
"""
