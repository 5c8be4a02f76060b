"""The read-only analytics HTTP API and dashboard (the ``api`` extra).

``create_app(database_url, token)`` returns a FastAPI app; ``analytics-api`` serves it.
"""

from ._app import ReadOnlyDatabase, create_app

__all__ = ["ReadOnlyDatabase", "create_app"]
