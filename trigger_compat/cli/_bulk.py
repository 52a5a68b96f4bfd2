"""The batch loop of every admin bulk action: at most ``batch_size`` jobs a statement, and a
progress bar on stderr when there are many jobs."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import click

from ..errors import ConfigurationError
from ._common import color

#: Ids per statement in bulk actions: no statement ever touches more rows than this.
DEFAULT_BATCH_SIZE = 1000
#: Bulk actions over more jobs than this show a progress bar.
PROGRESS_THRESHOLD = 1000

#: One statement's result: (the ids it acted on, how many jobs it went over).
Step = tuple[list[int], int]


def batches(items: Sequence[int], size: int = DEFAULT_BATCH_SIZE) -> Iterator[list[int]]:
    """``items`` in consecutive chunks of at most ``size``."""
    if size < 1:
        raise ConfigurationError("batch_size", f"must be ≥ 1 (got {size})")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def by_ids(
    job_ids: Sequence[int], batch_size: int, run: Callable[[list[int]], list[int]]
) -> Iterator[Step]:
    """``run`` over ``job_ids`` a chunk at a time."""
    for chunk in batches(job_ids, batch_size):
        yield run(chunk), len(chunk)


def by_keyset(run: Callable[[int], list[int]], max_id: int, batch_size: int) -> Iterator[Step]:
    """``run(after_id)`` statement after statement, each going on from the highest id the
    previous one returned, until a short batch or ``max_id``."""
    after = 0
    while True:
        ids = run(after)
        yield ids, len(ids)
        if len(ids) < batch_size or ids[-1] >= max_id:
            return
        after = ids[-1]


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr above :data:`PROGRESS_THRESHOLD` jobs."""
    if total <= PROGRESS_THRESHOLD:
        yield lambda n: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr, color=color()) as bar:
        yield bar.update


def run_batches(label: str, total: int, steps: Iterable[Step]) -> tuple[list[int], int]:
    """Run ``steps`` (see :func:`by_ids`, :func:`by_keyset`) under a progress bar labelled
    ``label`` for ``total`` jobs; (every id acted on, how many statements ran)."""
    done: list[int] = []
    statements = 0
    with _progress(total, label) as advance:
        for ids, covered in steps:
            statements += 1
            done += ids
            advance(covered)
    return done, statements
