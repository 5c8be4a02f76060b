"""``_dburl``: the one reading of a PostgreSQL URL, checked against asyncpg's own.

For generated URLs of every form asyncpg accepts (TCP, IPv6, several hosts, socket
directories as ``host=`` or percent-encoded in the authority, query-parameter logins,
extra parameters such as ``sslmode`` and server settings), the variants the library
makes (:func:`with_database`, :func:`with_login`) connect where asyncpg would, change
only what they say and keep every other parameter. Before this module existed the
tests and the demo each split URLs their own way, and a socket URL became
``postgres@none:5432`` (issue 29).
"""

from __future__ import annotations

from typing import Any

from asyncpg import connect_utils
from hypothesis import given
from hypothesis import strategies as st

from lib_analytics_core._dburl import (
    describe_database_url,
    parse_database_url,
    with_database,
    with_login,
)


def asyncpg_reading(url: str) -> tuple[Any, ...]:
    """Where asyncpg connects for ``url``: addresses, user, password, database, the
    TLS mode and server settings (asyncpg's private parser: the reference)."""
    addrs, params = connect_utils._parse_connect_dsn_and_args(  # type: ignore[attr-defined]
        dsn=url, host=None, port=None, user=None, password=None, passfile=None,
        database=None, ssl=None, service=None, servicefile=None, direct_tls=None,
        server_settings=None, target_session_attrs=None, krbsrvname=None, gsslib=None,
    )  # fmt: skip
    ssl = getattr(params.ssl, "name", type(params.ssl).__name__)
    return (
        tuple(addrs),
        params.user,
        params.password,
        params.database,
        ssl,
        params.target_session_attrs,
        tuple(sorted((params.server_settings or {}).items())),
    )


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=8)
secrets_ = st.text(alphabet="abcXYZ019 @:/%?&=#", min_size=1, max_size=8)
tcp_host = st.sampled_from(["127.0.0.1", "db.internal", "localhost", "[::1]"])
socket_dir = st.sampled_from(["/var/run/postgresql", "/tmp/lac-pg.x1", "/run/pg sock"])
ports = st.integers(min_value=1, max_value=65535)
extras = st.lists(
    st.sampled_from(
        [
            ("sslmode", "disable"),
            ("sslmode", "prefer"),
            ("target_session_attrs", "read-write"),
            ("application_name", "svc"),
            ("search_path", "analytics"),
            ("connect_timeout", "5"),
        ]
    ),
    max_size=3,
    unique_by=lambda kv: kv[0],
)


@st.composite
def urls(draw: st.DrawFn) -> str:
    from urllib.parse import quote, urlencode

    user, db = draw(names), draw(names)
    password = draw(st.none() | secrets_)
    login = quote(user, safe="") + (":" + quote(password, safe="") if password else "") + "@"
    query = list(draw(extras))
    form = draw(st.sampled_from(["tcp", "multi", "socket_query", "socket_authority"]))
    if form == "tcp":
        netloc = login + draw(tcp_host) + draw(st.sampled_from(["", f":{draw(ports)}"]))
    elif form == "multi":
        netloc = login + f"{draw(tcp_host)}:{draw(ports)},{draw(tcp_host)}:{draw(ports)}"
    elif form == "socket_query":
        netloc = login
        query.insert(0, ("host", draw(socket_dir)))
        if draw(st.booleans()):
            query.insert(1, ("port", str(draw(ports))))
    else:
        netloc = login + quote(draw(socket_dir), safe="")
    if draw(st.booleans()) and form != "multi":  # the login as query parameters instead
        netloc = netloc.split("@", 1)[1]
        query += [("user", user)] + ([("password", password)] if password else [])
    return f"postgresql://{netloc}/{db}" + ("?" + urlencode(query) if query else "")


@given(urls())
def test_the_url_again_connects_where_asyncpg_would(url: str) -> None:
    assert asyncpg_reading(parse_database_url(url).url()) == asyncpg_reading(url)


@given(urls(), names)
def test_another_database_changes_only_the_database(url: str, db: str) -> None:
    before, after = asyncpg_reading(url), asyncpg_reading(with_database(url, db))
    assert after[3] == db
    assert after[:3] + after[4:] == before[:3] + before[4:]


@given(urls(), names, st.none() | secrets_)
def test_another_login_changes_only_the_login(url: str, user: str, pw: str | None) -> None:
    before, after = asyncpg_reading(url), asyncpg_reading(with_login(url, user, pw))
    assert (after[1], after[2]) == (user, pw)
    assert (after[0], *after[3:]) == (before[0], *before[3:])


@given(urls())
def test_descriptions_name_the_place_never_the_password(url: str) -> None:
    parsed = parse_database_url(url)
    shown = describe_database_url(with_login(url, parsed.user or "u", "s3cret/pw"))
    assert "s3cret" not in shown
    assert (parsed.host or "localhost").strip("[]") in shown
    assert not shown.split("@")[-1].startswith(("none", "None"))


def test_socket_urls_are_described_as_their_directory() -> None:
    """The defect: ``analytics-ingest`` logged ``postgres@none:5432`` for this URL."""
    url = "postgresql://postgres@/postgres?host=/var/run/postgresql"
    assert describe_database_url(url) == "postgres@/var/run/postgresql/postgres"
    parsed = parse_database_url(with_login(url, "postgres", "s3cret"))
    assert parsed.socket_path() == "/var/run/postgresql/.s.PGSQL.5432"
    assert parsed.password == "s3cret"
