"""Framework integrations: automatic ``ApiRequest``, ``ApplicationError`` and
``DatabaseQuery`` tracking.

Each submodule imports its framework lazily (only when you use it), so installing
lib-analytics-core never pulls in Starlette, Flask, Django, asyncpg hooks or SQLAlchemy:

* :mod:`.asgi` - pure ASGI middleware (Starlette, FastAPI, any ASGI app)
* :mod:`.wsgi` - WSGI middleware (Flask, any WSGI app)
* :mod:`.django` - Django middleware
* :mod:`.logging` - a ``logging.Handler`` and exception hooks for ``ApplicationError``
* :mod:`.asyncpg_hooks` - asyncpg query logger for ``DatabaseQuery``
* :mod:`.sqlalchemy` - SQLAlchemy engine events for ``DatabaseQuery``

Nothing is imported here on purpose: ``import lib_analytics_core.integrations`` must
stay free of side effects and framework imports.
"""
