"""The error text a failed attempt stores: message first, then the traceback, bounded."""

from __future__ import annotations

import pytest

from trigger_compat.core.tracebacks import (
    MAX_ERROR_BYTES,
    bound_text,
    error_message,
    error_with_traceback,
)


def _nested(depth: int) -> None:
    if depth == 0:
        raise RuntimeError("upstream returned 500")
    _other(depth - 1)


def _other(depth: int) -> None:
    # Alternating frames: Python folds only runs of identical ones.
    _nested(depth)


def _raised(depth: int = 3) -> RuntimeError:
    try:
        _nested(depth)
    except RuntimeError as exc:
        return exc
    raise AssertionError("not raised")


def test_message_then_traceback() -> None:
    text = error_with_traceback(_raised())
    first, _, rest = text.partition("\n")
    assert first == "RuntimeError: upstream returned 500" == error_message(_raised())
    assert rest.startswith("\nTraceback (most recent call last):\n")
    assert text.count("in _nested") == 4 and text.count("in _other") == 3
    assert text.endswith("RuntimeError: upstream returned 500")


def test_chained_causes_are_kept() -> None:
    try:
        try:
            _nested(0)
        except RuntimeError as inner:
            raise ValueError("could not sync") from inner
    except ValueError as exc:
        text = error_with_traceback(exc)
    assert text.startswith("ValueError: could not sync\n\n")
    assert "The above exception was the direct cause" in text
    assert "RuntimeError: upstream returned 500" in text


def test_an_exception_never_raised_gives_its_message() -> None:
    assert error_with_traceback(KeyError("k")) == "KeyError: 'k'"
    assert error_with_traceback(RuntimeError()) == "RuntimeError"


def test_a_deep_stack_keeps_head_and_innermost_frames_within_the_bound() -> None:
    text = error_with_traceback(_raised(400))
    assert len(text.encode()) <= MAX_ERROR_BYTES
    assert text.startswith("RuntimeError: upstream returned 500\n\nTraceback")
    assert text.endswith(
        'raise RuntimeError("upstream returned 500")\nRuntimeError: upstream returned 500'
    )
    assert "bytes omitted ..." in text


@pytest.mark.parametrize("limit", [1, 10, 60, 100, 1000, 8192])
@pytest.mark.parametrize("unit", ["line of text\n", "é€😀\n", "x" * 300 + "\n"])
def test_bound_text_never_exceeds_the_limit(limit: int, unit: str) -> None:
    text = unit * 2000
    out = bound_text(text, limit)
    assert len(out.encode()) <= limit
    if limit >= 100:
        head, _, tail = out.partition(" bytes omitted ...\n")
        assert text.startswith(head.rsplit("\n... ", 1)[0])
        assert text.endswith(tail)
        omitted = int(head.rsplit("\n... ", 1)[1])
        kept = len(head.rsplit("\n... ", 1)[0].encode()) + len(tail.encode())
        assert kept + omitted == len(text.encode())


def test_short_text_is_unchanged() -> None:
    assert bound_text("short", 10) == "short"
    with pytest.raises(ValueError):
        bound_text("x", 0)
