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
