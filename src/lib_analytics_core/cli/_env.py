"""Where the command-line tools find their database (the seed's variables)."""

from __future__ import annotations

import os

__all__ = ["resolve_database_url"]


def resolve_database_url(explicit: str | None) -> str | None:
    """``--database-url``, else ``DATABASE_URL``, else ``PLATFORM_DATABASE_URL``."""
    return explicit or os.environ.get("DATABASE_URL") or os.environ.get("PLATFORM_DATABASE_URL")
