"""The text a failed attempt leaves in ``last_error`` (pure): the error's one-line message,
then its traceback, bounded so that a deep or repetitive stack cannot bloat the jobs table.

The first line stays what it always was (``RuntimeError: upstream returned 500``), so list
views and code that read the message keep working; the lines after it are the traceback as
Python prints it. When the whole text is larger than the bound, its head (the message and the
outermost frames) and its tail (the innermost frames and the exception line, where the cause
usually is) are kept and the middle is replaced by one line saying how much was left out.
"""

from __future__ import annotations

import traceback

# The bound of a stored error, in UTF-8 bytes.
MAX_ERROR_BYTES = 8 * 1024
# Of a cut text, the share kept from its head (the rest of the bound goes to the tail).
HEAD_SHARE = 0.25


def error_message(exc: BaseException) -> str:
    """The error's one-line form (graphile: the message, else the string form), prefixed by
    its type: ``RuntimeError: upstream returned 500``."""
    text = str(exc)
    name = type(exc).__name__
    if not text:
        return name
    return f"{name}: {text}"


def error_with_traceback(exc: BaseException, limit: int = MAX_ERROR_BYTES) -> str:
    """``error_message(exc)``, a blank line, then the traceback (chained causes included),
    bounded to ``limit`` UTF-8 bytes by :func:`bound_text`. An exception that was never
    raised (no frames) gives the message alone."""
    message = error_message(exc)
    if exc.__traceback__ is None and exc.__cause__ is None and exc.__context__ is None:
        return bound_text(message, limit)
    formatted = "".join(traceback.format_exception(exc)).rstrip("\n")
    return bound_text(f"{message}\n\n{formatted}", limit)


def bound_text(text: str, limit: int = MAX_ERROR_BYTES) -> str:
    """``text`` if it fits ``limit`` UTF-8 bytes; else its head and tail, cut at line ends
    where possible, around a line ``... N bytes omitted ...``. The result never exceeds
    ``limit`` bytes (a limit too small for the marker gives the head alone)."""
    if limit < 1:
        raise ValueError("limit must be ≥ 1 byte")
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    # The marker's own length depends on the number it shows; reserve room for the largest.
    reserve = len(f"\n... {len(data)} bytes omitted ...\n".encode())
    room = limit - reserve
    if room < 2:
        return _decode(data[: _line_cut(data, limit, backwards=True, lines=False)])
    head_end = _line_cut(data, int(room * HEAD_SHARE), backwards=True)
    tail_start = _line_cut(data, len(data) - (room - head_end), backwards=False)
    head = _decode(data[:head_end])
    tail = _decode(data[tail_start:])
    omitted = tail_start - head_end
    return f"{head}\n... {omitted} bytes omitted ...\n{tail}"


def _line_cut(data: bytes, at: int, *, backwards: bool, lines: bool = True) -> int:
    """A cut near ``at``: just after a newline at or before it (head) or just after one at
    or after it (tail), when one is within a quarter of the way; else ``at`` itself, moved
    off the middle of a UTF-8 sequence."""
    if not lines:
        pass
    elif backwards:
        nl = data.rfind(b"\n", 0, at)
        if nl != -1 and at - nl < max(64, at // 4):
            return nl  # the head ends before that newline
    else:
        nl = data.find(b"\n", at)
        if nl != -1 and nl - at < max(64, (len(data) - at) // 4):
            return nl + 1  # the tail starts after it
    while 0 < at < len(data) and data[at] & 0xC0 == 0x80:
        at += -1 if backwards else 1
    return at


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")
