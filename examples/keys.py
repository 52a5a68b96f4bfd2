"""Debounce and throttle with job keys.

* debounce (``replace``, the default): every call moves the one pending job to "10 s after
  the latest call", with the latest payload;
* throttle (``preserve_run_at``): the first call fixes when the job runs; later calls within
  that window update its payload but not its time;
* first one wins (``unsafe_dedupe``): later calls change nothing while the job exists.

    python -m examples.keys
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from trigger_compat import Client, Job

from ._common import CATALOG, database_url


def debounce_probe(
    queue: Client, endpoint_slug: str, endpoint_id: str, now: datetime | None = None
) -> Job:
    now = now or datetime.now(UTC)
    return queue.enqueue(
        "probeEndpoint",
        {"id": endpoint_id},
        {"jobKey": f"probe:{endpoint_slug}", "runAt": now + timedelta(seconds=10)},
    )


def throttle_token_refresh(
    queue: Client, organization_id: str, connection_id: str, now: datetime | None = None
) -> Job:
    now = now or datetime.now(UTC)
    return queue.enqueue(
        "refreshOAuthToken",
        {"organizationId": organization_id, "connectionId": connection_id},
        {
            "jobKey": f"refresh:{connection_id}",
            "jobKeyMode": "preserve_run_at",
            "runAt": now + timedelta(minutes=1),
        },
    )


def index_once(queue: Client, endpoint_id: str, reason: str) -> Job:
    return queue.enqueue(
        "indexEndpoint",
        {"id": endpoint_id, "reason": reason},
        {"jobKey": f"index:{endpoint_id}", "jobKeyMode": "unsafe_dedupe"},
    )


if __name__ == "__main__":
    with Client(database_url(), catalog=CATALOG) as queue:
        queue.migrate()
        for _ in range(3):
            print("debounced to", debounce_probe(queue, "my-endpoint", "ep_1").run_at)
