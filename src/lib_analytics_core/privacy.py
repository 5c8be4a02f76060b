"""Personal data controls: ``before_track`` hooks that redact, hash or drop events.

All hooks run in the worker (``AnalyticsConfig.before_track``), never in ``track()``,
so hashing costs the request path nothing. Build one hook from parts with
:func:`compose`; the first part returning None drops the event::

    hook = compose(
        pii_policy(email="hash", secret=os.environ["ANALYTICS_PII_SECRET"]),
        redact_fields(ApplicationError, "message"),
        drop_events(WebhookReceived),
    )
    client, cfg = AnalyticsClient.new(before_track=hook)

Without a ``before_track``, a client uses :data:`DEFAULT_BEFORE_TRACK` (``pii_policy()``:
the email is dropped). A hook you pass *replaces* that default, so compose
``pii_policy(...)`` into it (as above) to keep personal fields out; storing them is a
choice spelled ``pii_policy(email="raw")`` (or ``before_track=None``: no hook at all).

What the catalogue stores about people (see :data:`PII_FIELDS` and ``docs/integrations.md``):

* every event may carry ``user_id`` - a pseudonymous UUID, stored in its own column and
  erasable with :func:`lib_analytics_core.forget_user`;
* ``AuthLoginAttempt.email`` is the only direct identifier. :func:`pii_policy` stores it
  as an HMAC-SHA256 keyed hash (``"hash"``), not at all (``"drop"``, the default), or
  as given only when ``"raw"`` is chosen explicitly;
* free-text fields (``ApplicationError.message``, ``TaskCreated.command``, ``error``
  fields) hold whatever the service put there; redact them if that can include
  personal data.

Why a keyed hash and not SHA-256: email addresses are guessable, so a plain hash is
reversed by hashing candidate addresses. With HMAC the secret is needed for that;
equal addresses still hash equally (after trimming and lower-casing), so counting
distinct users or joining on a known address - computed with :func:`keyed_hash` - still
works. Rotating the secret breaks those joins across the rotation, by design.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import msgspec

from ._errors import ConfigurationError
from .events.base import Event
from .events.catalog import AuthLoginAttempt

__all__ = [
    "DEFAULT_BEFORE_TRACK",
    "MIN_SECRET_BYTES",
    "PII_FIELDS",
    "PII_SECRET_ENV",
    "REDACTED",
    "BeforeTrack",
    "PiiMode",
    "compose",
    "drop_events",
    "hash_fields",
    "keyed_hash",
    "pii_policy",
    "redact_fields",
]

BeforeTrack = Callable[[Event], "Event | None"]
PiiMode = Literal["hash", "drop", "raw"]

#: The catalogue's fields holding direct personal identifiers.
PII_FIELDS: Mapping[type[Event], tuple[str, ...]] = types.MappingProxyType(
    {AuthLoginAttempt: ("email",)}
)
#: Environment variable :func:`pii_policy` reads the HMAC secret from when none is given.
PII_SECRET_ENV = "ANALYTICS_PII_SECRET"  # noqa: S105 - a variable name, not a secret
#: Shortest accepted HMAC secret: 128 bits, so the hash cannot be brute-forced via the key.
MIN_SECRET_BYTES = 16
#: Replacement stored for redacted text fields that cannot be None.
REDACTED = "[redacted]"


def _secret_bytes(secret: str | bytes | None) -> bytes:
    if secret is None:
        secret = os.environ.get(PII_SECRET_ENV) or None
    if secret is None:
        raise ConfigurationError(
            f"hashing personal data needs a secret: pass secret=... or set {PII_SECRET_ENV}"
        )
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise ConfigurationError(f"the HMAC secret must be at least {MIN_SECRET_BYTES} bytes")
    return key


def keyed_hash(value: str, secret: str | bytes) -> str:
    """HMAC-SHA256 (hex) of a normalised value: what :func:`hash_fields` stores.

    Use it to look up a known value in stored data. Values are trimmed and
    lower-cased first, so ``" Ann@Example.com"`` and ``"ann@example.com"`` match.
    """
    key = _secret_bytes(secret)
    return hmac.new(key, value.strip().lower().encode(), hashlib.sha256).hexdigest()


def _field_types(cls: type[Event], fields: Iterable[str]) -> dict[str, Any]:
    if not (isinstance(cls, type) and issubclass(cls, Event)):
        raise ConfigurationError(f"expected an Event subclass, got {cls!r}")
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for name in fields:
        if name not in cls.__struct_fields__:
            raise ConfigurationError(f"{cls.__name__} has no field {name!r}")
        out[name] = hints[name]
    if not out:
        raise ConfigurationError("name at least one field")
    return out


def _allows(tp: Any, kind: type) -> bool:
    if tp is kind:
        return True
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return any(_allows(arg, kind) for arg in typing.get_args(tp))
    return False


def redact_fields(cls: type[Event], *fields: str) -> BeforeTrack:
    """A hook replacing ``fields`` of ``cls`` events: None where allowed, else ``[redacted]``.

    Checked when the hook is built: every field must exist and be optional or text
    (a number cannot be redacted meaningfully; drop the event instead).
    """
    replacements: dict[str, object] = {}
    for name, tp in _field_types(cls, fields).items():
        if _allows(tp, type(None)):
            replacements[name] = None
        elif _allows(tp, str):
            replacements[name] = REDACTED
        else:
            raise ConfigurationError(
                f"{cls.__name__}.{name} is neither optional nor text; it cannot be redacted"
            )

    def redact(event: Event) -> Event | None:
        if type(event) is not cls:
            return event
        return msgspec.structs.replace(event, **replacements)

    return redact


def hash_fields(cls: type[Event], *fields: str, secret: str | bytes | None = None) -> BeforeTrack:
    """A hook storing text ``fields`` of ``cls`` events as :func:`keyed_hash` values.

    ``secret`` defaults to ``$ANALYTICS_PII_SECRET``; it is required (no unkeyed hashing).
    None values stay None.
    """
    key = _secret_bytes(secret)
    field_types = _field_types(cls, fields)
    names = tuple(field_types)
    for name, tp in field_types.items():
        if not _allows(tp, str):
            raise ConfigurationError(f"{cls.__name__}.{name} is not text; it cannot be hashed")

    def hash_(event: Event) -> Event | None:
        if type(event) is not cls:
            return event
        changes: dict[str, object] = {}
        for name in names:
            value = getattr(event, name)
            if isinstance(value, str):
                changes[name] = hmac.new(
                    key, value.strip().lower().encode(), hashlib.sha256
                ).hexdigest()
        return msgspec.structs.replace(event, **changes) if changes else event

    return hash_


def drop_events(*what: type[Event] | Callable[[Event], bool]) -> BeforeTrack:
    """A hook dropping events of the given classes, or for which a predicate is true."""
    classes = tuple(w for w in what if isinstance(w, type))
    predicates = tuple(w for w in what if not isinstance(w, type))
    for cls in classes:
        if not issubclass(cls, Event):
            raise ConfigurationError(f"expected an Event subclass, got {cls!r}")
    if not what:
        raise ConfigurationError("name at least one event class or predicate")

    def drop(event: Event) -> Event | None:
        if classes and isinstance(event, classes):
            return None
        for predicate in predicates:
            if predicate(event):
                return None
        return event

    return drop


def compose(*hooks: BeforeTrack | None) -> BeforeTrack:
    """One hook running ``hooks`` in order; stops at the first that returns None."""
    chain = tuple(h for h in hooks if h is not None)
    for hook in chain:
        if not callable(hook):
            raise ConfigurationError(f"before_track hooks must be callable, got {hook!r}")

    def composed(event: Event) -> Event | None:
        current = event
        for hook in chain:
            changed = hook(current)
            if changed is None:
                return None
            current = changed
        return current

    return composed


def pii_policy(
    *,
    email: PiiMode = "drop",
    secret: str | bytes | None = None,
) -> BeforeTrack:
    """The catalogue's personal-data policy as one hook.

    ``email`` decides what ``AuthLoginAttempt.email`` becomes in storage: ``"drop"``
    (None; the default), ``"hash"`` (HMAC-SHA256 with ``secret`` or
    ``$ANALYTICS_PII_SECRET``), or ``"raw"`` (stored as given; only when chosen).
    """
    if email == "raw":
        return compose()
    if email == "drop":
        return redact_fields(AuthLoginAttempt, "email")
    if email == "hash":
        return hash_fields(AuthLoginAttempt, "email", secret=secret)
    raise ConfigurationError(f"email must be 'hash', 'drop' or 'raw', not {email!r}")


#: ``AnalyticsConfig.before_track`` when none is given: :func:`pii_policy` with its
#: defaults, so personal fields are dropped unless the user chooses otherwise. One shared
#: instance, so configs built with the default still compare equal.
DEFAULT_BEFORE_TRACK: BeforeTrack = pii_policy()
