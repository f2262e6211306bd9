"""Alembic migrations of the registry schema (run by avc_tui.registry.schema, no alembic.ini)."""
