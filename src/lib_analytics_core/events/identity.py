"""One user id from any string a client names a user by: the one home of the mapping.

Rows keep users in a ``uuid`` column (indexed, erasable with ``forget-user``). Clients
of the Segment spec send any string (``"user-42"``, an e-mail-like login, a database
integer). :func:`user_uuid` maps each to one UUID, the same in every process and every
version: a UUID string is kept as is (any spelling ``uuid.UUID`` accepts), any other
string becomes ``uuid5(USER_NAMESPACE, value)``. The collector stores that UUID and
keeps the original string in the row (``data._meta.user``); the read side's timeline
(``read.users.user_key``) maps what a caller asks for through this same function, so
either form finds the user.

Changing :data:`USER_NAMESPACE` would split every such user in two: it is fixed.
"""

from __future__ import annotations

import uuid
from typing import Final

__all__ = ["USER_NAMESPACE", "user_uuid"]

#: The namespace of the name-based (v5) user ids: ``uuid5(NAMESPACE_URL,
#: "https://lib-analytics-core/user-id")``, written out so that it is a constant.
USER_NAMESPACE: Final = uuid.UUID("f96887de-a74c-5bc7-82cb-6558d9e7117d")


def user_uuid(value: str) -> uuid.UUID:
    """The stored user id of ``value``: itself if it spells a UUID, else its uuid5."""
    if 32 <= len(value) <= 45:  # every spelling uuid.UUID accepts is in this range
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    return uuid.uuid5(USER_NAMESPACE, value)
