"""Log output for workers: the text format, or one JSON object per line for log collectors::

    configure_logging(level="INFO", format="json")  # `trigger-compat worker --log-format json`

or, with a logging setup of the application's own::

    handler.setFormatter(JsonFormatter())

A job's log records (the worker's own and those a handler writes through ``helpers.logger``)
carry ``job_id``, ``task``, ``attempt`` and ``worker_id``; the worker's line at the end of a
failed attempt (and, at DEBUG, of a completed one) adds ``duration`` (seconds) and ``outcome``,
and a failed attempt's record carries the exception, which the JSON format writes as
``exc_type``, ``exc_message`` and ``exc_info`` (the formatted traceback).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any, Literal

from ..errors import ConfigurationError

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# The attributes every LogRecord has: anything else on a record came in through ``extra``.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)
# Extra fields under the names the JSON lines use.
_RENAMED = {"task_identifier": "task"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, then the record's extra fields (``job_id``, ``task``, ``attempt``,
    ``worker_id``, ``duration``, ... for a job's records) and, when the record carries an
    exception, ``exc_type``, ``exc_message`` and ``exc_info``. Values JSON cannot hold are
    written as their ``str()``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[_RENAMED.get(key, key)] = value
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            out["exc_type"] = type(exc).__name__
            out["exc_message"] = str(exc)
            out["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def formatter(format: LogFormat = "text") -> logging.Formatter:
    """The formatter of ``format``: ``text`` (one line, then any traceback) or ``json``."""
    if format == "json":
        return JsonFormatter()
    if format == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ConfigurationError("format", f"must be one of {', '.join(LOG_FORMATS)} (got {format!r})")


def configure_logging(
    level: int | str = "INFO", format: LogFormat = "text", stream: IO[str] | None = None
) -> logging.Handler:
    """Send the root logger's records at ``level`` and above to ``stream`` (stderr by
    default) in ``format``, replacing the handlers the root logger had. Returns the handler."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter(format))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
