"""Reading the arguments of the admin commands: durations, times and job ids."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from ..errors import InvalidArgumentError

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, field: str = "duration") -> timedelta:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"7d"``, ``"1w"``, ``"1h30m"``; a bare number is
    seconds."""
    raw = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        return _duration(float(raw), text, field)
    pos = 0
    seconds = 0.0
    for match in _DURATION_PART.finditer(raw):
        if match.start() != pos:
            break
        seconds += float(match[1]) * _UNIT_SECONDS[match[2]]
        pos = match.end()
    if not raw or pos != len(raw):
        raise InvalidArgumentError(
            field,
            f"{text!r} is not a duration; use a number and a unit, "
            "e.g. 90s, 15m, 2h, 7d, 1w, 1h30m",
        )
    return _duration(seconds, text, field)


def _duration(seconds: float, text: str, field: str) -> timedelta:
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise InvalidArgumentError(field, f"{text!r} is too long a duration") from None


def parse_when(text: str, now: datetime, field: str = "run_at") -> datetime:
    """An instant: ``now``, ``+2h`` / ``in 2h`` (from now), or ISO 8601 (a time without an
    offset is UTC)."""
    raw = text.strip()
    lowered = raw.lower()
    if lowered == "now":
        return now
    if lowered.startswith("+") or lowered.startswith("in "):
        return now + parse_duration(lowered.removeprefix("+").removeprefix("in "), field)
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        raise InvalidArgumentError(
            field,
            f"{text!r} is not a time; use now, +2h, 'in 30m' or ISO 8601 "
            "(2030-01-01T09:00:00+00:00)",
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_ids(texts: Iterable[str], field: str = "IDS") -> list[int]:
    """Job ids from arguments; each may also be a comma-separated list (``1,2,3``)."""
    out: list[int] = []
    for text in texts:
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit() or int(part) < 1 or int(part) > 2**63 - 1:
                raise InvalidArgumentError(field, f"{part!r} is not a job id (a positive integer)")
            out.append(int(part))
    return list(dict.fromkeys(out))
