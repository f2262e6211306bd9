"""The experiment registry (``experiments.db`` by default): SQLAlchemy models, Alembic schema
versions, and the :class:`Registry` that the control layer, the runner and the front ends share."""

from avc_tui.registry.errors import RegistryError
from avc_tui.registry.models import ACTIVE, RESUMABLE, STATUSES, Status
from avc_tui.registry.store import Placement, Point, Registry, now, resolve_url

__all__ = ["ACTIVE", "RESUMABLE", "STATUSES", "Placement", "Point", "Registry", "RegistryError",
           "Status", "now", "resolve_url"]
