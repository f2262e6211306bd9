"""The experiment registry (``experiments.db`` by default): SQLAlchemy models, Alembic schema
versions, and the :class:`Registry` that the CLI, the runner and the TUI share."""

from avc_tui.registry.store import Point, Registry, RegistryError, now, resolve_url

__all__ = ["Point", "Registry", "RegistryError", "now", "resolve_url"]
