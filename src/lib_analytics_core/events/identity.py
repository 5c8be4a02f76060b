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

:func:`uuid5_bytes` is ``uuid.uuid5`` computed without its per-call overhead (a SHA-1
state per namespace copied instead of built, the version and variant bits set with one
mask, and no ``UUID`` built that the caller does not want): the collector maps every
Segment message through it twice (user, message id), where ``uuid.uuid5`` cost 1.5 µs
each; :func:`uuid5_int` is the same number as an integer. Both are the very same UUID
(property tests compare them with ``uuid.uuid5``).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, Final

import msgspec

__all__ = ["USER_NAMESPACE", "user_uuid", "uuid5_bytes", "uuid5_int"]

#: The namespace of the name-based (v5) user ids: ``uuid5(NAMESPACE_URL,
#: "https://lib-analytics-core/user-id")``, written out so that it is a constant.
USER_NAMESPACE: Final = uuid.UUID("f96887de-a74c-5bc7-82cb-6558d9e7117d")
_USER_NAMESPACE_BYTES: Final = USER_NAMESPACE.bytes

_sha1 = hashlib.sha1
_new = object.__new__
_set = object.__setattr__
_SAFE_UNKNOWN = uuid.SafeUUID.unknown
_as_uuid = msgspec.convert


_from_bytes = int.from_bytes
#: The 128 bits of a UUID but its version and variant, and those of a version 5 UUID.
_KEEP: Final = ((1 << 128) - 1) & ~((0xF << 76) | (0x3 << 62))
_VERSION_5: Final = (0x5 << 76) | (0x2 << 62)

#: A SHA-1 state per namespace, its 16 bytes already hashed: copying it skips OpenSSL's
#: look-up of the algorithm that each ``hashlib.sha1()`` does (15 % of the call).
_NAMESPACE_HASHES: dict[bytes, Any] = {}


def uuid5_bytes(namespace: bytes, name: str) -> bytes:
    """``uuid.uuid5(uuid.UUID(bytes=namespace), name).bytes``, several times faster: the
    digest's first 16 bytes (its top 128 bits of 160) with the version (bits 76-79) and
    variant (bits 62-63) set by one mask, as one integer."""
    base = _NAMESPACE_HASHES.get(namespace)
    if base is None:
        if len(_NAMESPACE_HASHES) >= 64:  # a handful in practice; never unbounded
            _NAMESPACE_HASHES.clear()
        base = _NAMESPACE_HASHES[namespace] = _sha1(namespace)
    state = base.copy()
    state.update(name.encode())
    return ((_from_bytes(state.digest()) >> 32 & _KEEP) | _VERSION_5).to_bytes(16)


def uuid5_int(namespace: bytes, name: str) -> int:
    """``uuid.uuid5(uuid.UUID(bytes=namespace), name).int``, several times faster."""
    return int.from_bytes(uuid5_bytes(namespace, name), "big")


def _uuid(value: int) -> uuid.UUID:
    # The object ``uuid.UUID(int=value)`` builds, without re-checking a value in range.
    u: uuid.UUID = _new(uuid.UUID)
    _set(u, "int", value)
    _set(u, "is_safe", _SAFE_UNKNOWN)
    return u


def _spelled_uuid(value: str) -> int | None:
    """``uuid.UUID(value).int``, or None where ``uuid.UUID`` raises ValueError: the very
    steps of its constructor (CPython 3.11-3.13), without its argument checks."""
    text = value.replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "")
    if len(text) != 32:
        return None
    try:
        number = int(text, 16)
    except ValueError:
        return None
    return number if 0 <= number < 1 << 128 else None


def user_uuid(value: str) -> uuid.UUID:
    """The stored user id of ``value``: itself if it spells a UUID, else its uuid5."""
    if 32 <= len(value) <= 45:  # every spelling uuid.UUID accepts is in this range
        try:
            # The two spellings SDKs send (hyphenated, or 32 hex digits), in C; what
            # msgspec accepts, uuid.UUID reads as the same number.
            return _as_uuid(value, uuid.UUID)
        except msgspec.ValidationError:
            number = _spelled_uuid(value)  # braces, "urn:uuid:", ... as uuid.UUID reads them
            if number is not None:
                return _uuid(number)
    return _uuid(uuid5_int(_USER_NAMESPACE_BYTES, value))
