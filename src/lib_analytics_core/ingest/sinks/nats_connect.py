"""Opening a NATS connection the same way everywhere (the producer sink here, and
``bus``'s stream setup and consumer service, which import it from here).

The client reconnects forever in the background (a producer or replica outlives any
NATS restart), and its callbacks only record the last problem: they never log per
event, and never log a URL with its credentials.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from ..._errors import BusError
from .nats_config import BusConfig

try:
    import nats
except ImportError as err:  # pragma: no cover - exercised only without the extra
    from ..._extras import install_hint

    raise ImportError(f"the NATS bus needs nats-py: {install_hint('bus')}") from err

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS

__all__ = ["ConnectionState", "connect", "redact"]

logger = logging.getLogger("lib_analytics_core")

_CREDENTIALS = re.compile(r"//[^@/]*@")


def redact(url: str) -> str:
    """``url`` without ``user:password@`` (safe to log)."""
    return _CREDENTIALS.sub("//***@", url)


class ConnectionState:
    """What the client's callbacks saw: disconnects, reconnects and the last error."""

    def __init__(self) -> None:
        self.disconnects = 0
        self.reconnects = 0
        self.last_error: str | None = None

    async def on_error(self, err: Exception) -> None:
        self.last_error = f"{type(err).__name__}: {err}"[:500]

    async def on_disconnected(self) -> None:
        self.disconnects += 1

    async def on_reconnected(self) -> None:
        self.reconnects += 1


async def connect(bus: BusConfig, *, name: str, state: ConnectionState | None = None) -> NATS:
    """A connected client, or :class:`BusError` when no server answers in time."""
    state = state if state is not None else ConnectionState()
    try:
        nc: NATS = await nats.connect(
            servers=list(bus.servers),
            name=name,
            connect_timeout=bus.connect_timeout_secs,
            allow_reconnect=True,
            # Give up on the *first* connect after one pass over the servers (the caller
            # retries with its own backoff); once connected, reconnect forever (below).
            max_reconnect_attempts=1,
            reconnect_time_wait=0.25,
            error_cb=state.on_error,
            disconnected_cb=state.on_disconnected,
            reconnected_cb=state.on_reconnected,
        )
    except Exception as err:
        where = ", ".join(redact(s) for s in bus.servers)
        raise BusError(f"cannot connect to NATS at {where}: {type(err).__name__}: {err}") from err
    nc.options["max_reconnect_attempts"] = -1
    return nc
