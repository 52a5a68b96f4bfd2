"""How long a worker process waits before trying a failed database call again.

Not a job's retry delay (that is ``retry_delay()`` in ``sql/functions/retry_delay.sql``,
applied by the database): this is the pause of a worker's own loops (fetching, heartbeats,
scheduling a cron tick) after an error, so that a database that is down or overloaded is not
hammered. It doubles with each consecutive error, is capped, and is jittered (a random 50 to
100 %) so that many workers do not retry in step.
"""

from __future__ import annotations

import random


def backoff_delay(errors: int, *, base: float = 0.05, cap: float = 30.0) -> float:
    """Seconds to wait after ``errors`` consecutive errors: ``min(cap, base * 2**errors)``
    (``errors`` counted up to 10), times a random factor between 0.5 and 1."""
    return float(min(cap, base * 2 ** min(errors, 10)) * random.uniform(0.5, 1.0))
