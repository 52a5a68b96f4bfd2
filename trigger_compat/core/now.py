"""What time it is for the engine (pure).

A *now function* (:data:`NowFunction`) answers "what time is it", timezone-aware: a client's
``clock=`` is one, used in place of the database's ``now()`` for run_at defaults, fetching and
backoff. A :class:`~trigger_compat.runtime.clock.Clock` is more: it also sleeps until a given
time, and drives the cron scheduler; any now function can serve as one
(:func:`~trigger_compat.runtime.clock.as_clock`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeAlias

__all__ = ["NowFunction"]

NowFunction: TypeAlias = Callable[[], datetime]
