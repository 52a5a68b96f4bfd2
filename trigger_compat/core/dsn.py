"""Error messages without the secrets of a connection string (pure)."""

from __future__ import annotations

import re

from psycopg.conninfo import conninfo_to_dict

_URL_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@")
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def _scrub_text(text: str) -> str:
    text = _URL_PASSWORD.sub(r"\1***@", text)
    return _KV_PASSWORD.sub(r"\1***", text)


def redact_message(message: str, conninfo: str | None) -> str:
    """Remove the password of ``conninfo`` (and any password-looking text) from ``message``."""
    if conninfo:
        try:
            password = conninfo_to_dict(conninfo).get("password")
        except Exception:
            password = None
        if password:
            message = message.replace(str(password), "***")
    return _scrub_text(message)


# -- poolers -------------------------------------------------------------------------------

#: The query parameter of a URL that says it points at PgBouncer in transaction mode
#: (trigger.dev's and Prisma's convention: ``DATABASE_URL=…?pgbouncer=true``). libpq does not
#: know it: :func:`split_pooled` removes it before the URL reaches psycopg.
POOLER_PARAMETER = "pgbouncer"
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def split_pooled(conninfo: str, *, field: str = "database") -> tuple[str, bool]:
    """``conninfo`` without the ``pgbouncer=`` query parameter of a URL, and whether that
    parameter said true. Any other conninfo comes back unchanged, with False. A value other
    than true/false raises :class:`ConfigurationError` naming ``field``."""
    from urllib.parse import unquote

    from ..errors import ConfigurationError

    head, sep, query = conninfo.partition("?")
    if not sep or "://" not in head:
        return conninfo, False
    query, hash_, fragment = query.partition("#")
    items = query.split("&")
    pooled = False
    kept: list[str] = []
    for item in items:
        key, _, value = item.partition("=")
        if unquote(key) != POOLER_PARAMETER:
            kept.append(item)
            continue
        value = unquote(value).lower()
        if value in _TRUE:
            pooled = True
        elif value not in _FALSE:
            raise ConfigurationError(
                field,
                f"{POOLER_PARAMETER}={value!r} in the URL: write {POOLER_PARAMETER}=true "
                "(the URL goes through PgBouncer in transaction mode) or leave it out",
            )
    if len(kept) == len(items):
        return conninfo, False
    rebuilt = head + ("?" + "&".join(kept) if kept else "")
    return rebuilt + hash_ + fragment, pooled
