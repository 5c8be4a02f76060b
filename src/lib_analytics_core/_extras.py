"""How to install an optional extra, said one way in every message and doc.

The project is not published on a package index: it is installed from a checkout or
from a wheel built from one (``python -m pip wheel . --no-deps -w dist/``). So the
command names the checkout (``.``) and the wheel, never ``lib-analytics-core[...]``
from an index (which fails with "No matching distribution").
"""

from __future__ import annotations

__all__ = ["install_hint"]


def install_hint(extra: str) -> str:
    """The install command for ``extra``, as a message tells it."""
    return (
        f"pip install '.[{extra}]' from a lib-analytics-core checkout "
        f"(or pip install 'dist/lib_analytics_core-<version>-py3-none-any.whl[{extra}]' "
        "for a wheel built with `python -m pip wheel . --no-deps -w dist/`)"
    )
