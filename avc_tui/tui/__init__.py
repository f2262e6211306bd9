"""The Textual terminal UI: ``avc tui`` (or a bare ``avc`` in a terminal)."""
