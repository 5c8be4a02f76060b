"""Write tokens: who may write which ``service``.

The fixed interface operators rely on: ``ANALYTICS_COLLECT_TOKENS`` holds comma-separated
``TOKEN=SERVICE[|SERVICE…][;open|;strict]`` entries; ``*`` allows any service; the
policy after ``;`` is for Segment ``track`` names no class is registered for. An event that names no
service of its own is stored under the token's *first* service.

A presented token is compared with every configured one using
``hmac.compare_digest`` and no early exit, so the time taken says nothing about how
much of a token matched or which entry it was. Tokens are never logged, and their
``repr`` hides them.

The seed's own clients send no token at all. They keep working only through an explicit
opt-in, ``anonymous_service``: requests without an ``Authorization`` header are then
treated as a token that may write just that one service. A request with a *wrong* token
is still refused (401): the opt-in is for clients that cannot send one, not a fallback
for ones that send a bad one.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass, field

from .._errors import ConfigurationError

__all__ = ["ANY_SERVICE", "Grant", "TokenTable"]

#: The service pattern that allows any service.
ANY_SERVICE = "*"
#: Shortest token accepted: a guessable token is worse than none.
MIN_TOKEN_CHARS = 16


@dataclass(frozen=True, slots=True)
class Grant:
    """What one authenticated caller may write."""

    key: str
    """A stable, non-secret name for rate limiting and logs (``token#2``, ``anonymous``)."""
    services: tuple[str, ...]
    """Allowed services in order; the first is the default. ``*`` allows any."""
    strict: bool = False
    """Segment ``track`` names that are no registered event class are refused (``;strict``
    after the services) instead of stored as custom events (the default, ``open``)."""

    @property
    def default_service(self) -> str | None:
        first = self.services[0]
        return None if first == ANY_SERVICE else first

    def may_write(self, service: str) -> bool:
        return ANY_SERVICE in self.services or service in self.services


@dataclass(frozen=True)
class TokenTable:
    """The configured tokens (parsed once) and the anonymous opt-in."""

    entries: tuple[tuple[bytes, Grant], ...] = field(repr=False)
    anonymous_service: str | None = None

    @classmethod
    def parse(cls, spec: str, *, anonymous_service: str | None = None) -> TokenTable:
        """Parse ``TOKEN=SERVICE[|SERVICE…],…``; the error never quotes a token."""
        entries: list[tuple[bytes, Grant]] = []
        seen: set[str] = set()
        for n, raw in enumerate((p.strip() for p in spec.split(",")), start=1):
            if not raw:
                continue
            token, sep, services_text = raw.partition("=")
            token = token.strip()
            services_text, _, policy = services_text.partition(";")
            if policy.strip() not in ("", "open", "strict"):
                raise ConfigurationError(
                    f"ANALYTICS_COLLECT_TOKENS entry {n}: the policy after ';' is open or strict"
                )
            services = tuple(s.strip() for s in services_text.split("|") if s.strip())
            if not sep or not services:
                raise ConfigurationError(
                    f"ANALYTICS_COLLECT_TOKENS entry {n}: expected TOKEN=SERVICE[|SERVICE...]"
                )
            if len(token) < MIN_TOKEN_CHARS:
                raise ConfigurationError(
                    f"ANALYTICS_COLLECT_TOKENS entry {n}: a token needs at least "
                    f"{MIN_TOKEN_CHARS} characters"
                )
            if token in seen:
                raise ConfigurationError(f"ANALYTICS_COLLECT_TOKENS entry {n}: duplicate token")
            seen.add(token)
            for service in services:
                if service != ANY_SERVICE and len(service) > 100:
                    raise ConfigurationError(
                        f"ANALYTICS_COLLECT_TOKENS entry {n}: a service name is 1-100 characters"
                    )
            grant = Grant(f"token#{n}", services, strict=policy.strip() == "strict")
            entries.append((token.encode(), grant))
        if anonymous_service is not None and not 0 < len(anonymous_service) <= 100:
            raise ConfigurationError("the anonymous service name is 1-100 characters")
        if not entries and anonymous_service is None:
            raise ConfigurationError(
                "no write tokens: set ANALYTICS_COLLECT_TOKENS (TOKEN=SERVICE[|SERVICE...]) "
                "or opt in to anonymous writes with --anonymous-service NAME"
            )
        return cls(tuple(entries), anonymous_service)

    def authenticate(self, authorization: str | None) -> Grant | None:
        """The grant for an ``Authorization`` header value, or None (401)."""
        if authorization is None:
            if self.anonymous_service is None:
                return None
            return Grant("anonymous", (self.anonymous_service,))
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() == "basic" and presented:
            # Segment's SDKs: HTTP Basic with the write key as the user name.
            try:
                decoded = base64.b64decode(presented.strip(), validate=True)
            except (binascii.Error, ValueError):
                return None
            return self.lookup(decoded.partition(b":")[0].decode("utf-8", "surrogateescape"))
        if scheme.lower() != "bearer" or not presented:
            return None
        return self.lookup(presented.strip())

    def lookup(self, presented: str) -> Grant | None:
        """The grant of a presented token (a bearer token, a Segment write key)."""
        if not presented:
            return None
        candidate = presented.encode("utf-8", "surrogateescape")
        found: Grant | None = None
        for token, grant in self.entries:
            # Every entry is compared, match or not: no early exit to time.
            if hmac.compare_digest(token, candidate):
                found = grant
        return found
