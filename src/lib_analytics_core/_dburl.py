"""Database URLs: where the tools find one, what it points at, how it is named on screen,
and how a variant of it (another database, another login) is made. The one home for
reading a PostgreSQL URL; nothing else in the library splits one.

One order for every console script (``analytics-migrate``, its ``forget-user``,
``analytics-api``, ``analytics-collect``, ``analytics-ingest``): ``--database-url``,
else ``DATABASE_URL``, else ``PLATFORM_DATABASE_URL`` (the seed's variables). The
exception is ``analytics-demo``, which writes thirty days of simulated events: it writes
only where ``--database-url`` says, never where an environment variable happens to point
(an application's database), and uses its embedded PostgreSQL otherwise.

Every form asyncpg accepts is understood, and a variant keeps everything it does not
change (``sslmode``, ``target_session_attrs``, server settings, ...):

* ``postgresql://user:pw@host:5432/db?sslmode=require`` (``postgres://`` too);
* Unix sockets: ``postgresql://user@/db?host=/var/run/postgresql`` (a directory), or the
  directory percent-encoded as the host (``postgresql://user@%2Fvar%2Frun%2Fpostgresql/db``);
* several hosts: ``postgresql://u@h1:5432,h2:5433/db?target_session_attrs=read-write``;
* ``user``, ``password``, ``dbname``/``database``, ``host``, ``port`` as query parameters;
* no host at all: asyncpg's defaults (``PGHOST``, then the usual socket directories).

Scripts print where they write, but never a password: :func:`describe_database_url`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

__all__ = [
    "DATABASE_URL_VARIABLES",
    "DatabaseURL",
    "describe_database_url",
    "parse_database_url",
    "resolve_database_url",
    "with_database",
    "with_login",
]

#: Environment variables consulted, in this order, after ``--database-url``.
DATABASE_URL_VARIABLES = ("DATABASE_URL", "PLATFORM_DATABASE_URL")

#: PostgreSQL's default port, also the suffix of its socket file (``.s.PGSQL.5432``).
DEFAULT_PORT = 5432

_SCHEMES = ("postgresql", "postgres")
#: Query parameters asyncpg reads as parts of the address or login (the others are
#: connection options or server settings, kept as they are).
_FOLDED = frozenset({"host", "port", "user", "password", "database"})


def resolve_database_url(
    explicit: str | None, environ: Mapping[str, str] | None = None
) -> str | None:
    """``--database-url``, else ``DATABASE_URL``, else ``PLATFORM_DATABASE_URL``."""
    if explicit:
        return explicit
    env = os.environ if environ is None else environ
    for name in DATABASE_URL_VARIABLES:
        value = env.get(name)
        if value:
            return value
    return None


@dataclass(frozen=True, slots=True)
class DatabaseURL:
    """A PostgreSQL URL taken apart the way asyncpg reads it.

    ``hosts`` and ``ports`` are parallel (a host's port is ``ports[i]``, the default
    where the URL gives none); a host starting with ``/`` is a Unix-socket directory.
    ``query`` keeps every parameter except the ones folded into the fields above, in
    order, so :meth:`url` gives back an equivalent URL.
    """

    scheme: str
    user: str | None
    password: str | None
    hosts: tuple[str, ...]
    ports: tuple[int, ...]
    database: str | None
    query: tuple[tuple[str, str], ...]

    @property
    def is_socket(self) -> bool:
        """True when the (first) host is a Unix-socket directory."""
        return bool(self.hosts) and self.hosts[0].startswith("/")

    @property
    def host(self) -> str | None:
        """The first host (or socket directory), None when the URL names none."""
        return self.hosts[0] if self.hosts else None

    @property
    def port(self) -> int:
        """The first host's port (:data:`DEFAULT_PORT` when the URL gives none)."""
        return self.ports[0] if self.ports else DEFAULT_PORT

    def socket_path(self) -> str | None:
        """The socket file of a Unix-socket URL (``<dir>/.s.PGSQL.<port>``), else None."""
        return f"{self.hosts[0]}/.s.PGSQL.{self.port}" if self.is_socket else None

    def param(self, name: str) -> str | None:
        """The last value of query parameter ``name`` (asyncpg's reading), or None."""
        found = [v for k, v in self.query if k == name]
        return found[-1] if found else None

    def describe(self) -> str:
        """``user@host:port/database`` for messages: never the password."""
        shown = []
        for i, h in enumerate(self.hosts):
            name = f"[{h}]" if ":" in h else h
            if self.ports and not h.startswith("/"):
                name += f":{self.ports[i]}"
            shown.append(name)
        where = ",".join(shown)
        if self.is_socket and self.ports and self.port != DEFAULT_PORT:
            where = f"{where} (port {self.port})"
        who = f"{self.user}@" if self.user else ""
        return f"{who}{where or 'localhost'}/{self.database or self.user or ''}"

    def url(self) -> str:
        """The URL again: TCP hosts in the authority, socket directories as ``host=``."""
        login = ""
        if self.user is not None:
            login = quote(self.user, safe="")
            if self.password is not None:
                login += ":" + quote(self.password, safe="")
            login += "@"
        query = list(self.query)
        if not self.hosts or any(h.startswith("/") for h in self.hosts):  # as parameters
            if self.ports:
                query[:0] = [("port", ",".join(map(str, self.ports)))]
            if self.hosts:
                query[:0] = [("host", ",".join(self.hosts))]
            netloc = login
        else:
            shown = [f"[{h}]" if ":" in h else h for h in self.hosts]
            if self.ports:
                shown = [f"{h}:{p}" for h, p in zip(shown, self.ports, strict=True)]
            netloc = login + ",".join(shown)
        path = "/" + quote(self.database, safe="") if self.database is not None else ""
        encoded = urlencode(query, safe="/,")
        return f"{self.scheme}://{netloc}{path}" + (f"?{encoded}" if encoded else "")


def parse_database_url(url: str) -> DatabaseURL:
    """Take ``url`` apart (see :class:`DatabaseURL`); ``ValueError`` if it is not one."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ValueError("not a postgresql:// URL")
    query: list[tuple[str, str]] = parse_qsl(parts.query, keep_blank_values=True)
    netloc = parts.netloc
    user = password = None
    if "@" in netloc:
        login, netloc = netloc.rsplit("@", 1)
        user_part, sep, password_part = login.partition(":")
        user = unquote(user_part)
        password = unquote(password_part) if sep else None
    hosts: list[str] = []
    ports: list[int] = []
    for item in filter(None, netloc.split(",")):
        host, port = _split_hostport(item)
        hosts.append(host)
        if port is not None:
            ports.append(port)
    database = unquote(parts.path[1:]) if parts.path.startswith("/") and parts.path[1:] else None
    fields: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for key, value in query:
        name = "database" if key == "dbname" else key
        if name in _FOLDED and name not in fields:
            fields[name] = value
        else:
            rest.append((key, value))
    hosts = hosts or [h for h in fields.get("host", "").split(",") if h]
    ports = ports or [int(p) for p in fields.get("port", "").split(",") if p]
    user = user if user is not None else fields.get("user")
    password = password if password is not None else fields.get("password")
    database = database if database is not None else fields.get("database")
    if len(ports) == 1 and len(hosts) > 1:
        ports = ports * len(hosts)
    if ports and len(ports) != max(len(hosts), 1):
        raise ValueError("the URL gives a different number of hosts and ports")
    return DatabaseURL(
        scheme=parts.scheme,
        user=user,
        password=password,
        hosts=tuple(hosts),
        ports=tuple(ports),
        database=database,
        query=tuple(rest),
    )


def _split_hostport(item: str) -> tuple[str, int | None]:
    if item.startswith("["):  # [IPv6]:port
        host, _, rest = item[1:].partition("]")
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ValueError("malformed [IPv6] host")
        return host, int(rest[1:])
    host, sep, port = item.rpartition(":")
    if not sep:
        return unquote(item), None
    return unquote(host), int(port) if port else None


def describe_database_url(url: str) -> str:
    """``user@host:port/database`` for messages: the password is never shown.

    A socket URL reads ``user@/var/run/postgresql/db``; what cannot be parsed reads
    ``(an unparsable database URL)`` (it may hold a password in an odd place).
    """
    try:
        return parse_database_url(url).describe()
    except ValueError:
        return "(an unparsable database URL)"


def with_database(url: str, database: str) -> str:
    """``url`` naming ``database`` instead, every other part kept."""
    return replace(parse_database_url(url), database=database).url()


def with_login(url: str, user: str, password: str | None = None) -> str:
    """``url`` logging in as ``user`` (with ``password``), every other part kept."""
    return replace(parse_database_url(url), user=user, password=password).url()
