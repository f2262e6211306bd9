"""The registry's error type, below both the store and the schema code that raise it."""

from __future__ import annotations

from core.errors import AvcError


class RegistryError(AvcError):
    """The registry cannot be opened, or an experiment asked for does not exist."""

    default_hint = "`avc ls` lists the experiments; --db (or $AVC_DB_URL) chooses the registry"
