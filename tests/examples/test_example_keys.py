from __future__ import annotations

from datetime import timedelta

from examples.keys import debounce_probe, index_once, throttle_token_refresh
from trigger_compat.testing.plugin import TestQueue


def test_debounce_moves_the_one_job_after_the_latest_call(tc_queue: TestQueue) -> None:
    start = tc_queue.clock.now()
    debounce_probe(tc_queue.client, "api", "ep_1", now=start)
    tc_queue.advance(seconds=5)
    debounce_probe(tc_queue.client, "api", "ep_2", now=tc_queue.clock.now())
    job = tc_queue.assert_enqueued("probeEndpoint", count=1, jobKey="probe:api")
    assert job.payload == {"id": "ep_2"}
    assert job.run_at == start + timedelta(seconds=15)

    probed: list[str] = []
    handlers = {"probeEndpoint": lambda payload, job: probed.append(payload["id"])}
    assert tc_queue.drain(handlers) == []  # not due yet
    tc_queue.advance(seconds=10)
    tc_queue.drain(handlers)
    assert probed == ["ep_2"]


def test_throttle_keeps_the_first_run_at(tc_queue: TestQueue) -> None:
    start = tc_queue.clock.now()
    throttle_token_refresh(tc_queue.client, "org_1", "conn_1", now=start)
    tc_queue.advance(seconds=30)
    throttle_token_refresh(tc_queue.client, "org_1", "conn_1", now=tc_queue.clock.now())
    tc_queue.assert_enqueued(
        "refreshOAuthToken",
        {"connectionId": "conn_1"},
        count=1,
        runAt=start + timedelta(minutes=1),
    )
    refreshed: list[str] = []
    runs = tc_queue.drain(
        {"refreshOAuthToken": lambda p, job: refreshed.append(p["connectionId"])},
        until=timedelta(minutes=5),
    )
    assert refreshed == ["conn_1"] and runs[0].outcome == "complete"


def test_unsafe_dedupe_keeps_the_first_payload(tc_queue: TestQueue) -> None:
    first = index_once(tc_queue.client, "ep_1", "first")
    second = index_once(tc_queue.client, "ep_1", "second")
    assert second.id == first.id
    tc_queue.assert_enqueued("indexEndpoint", {"reason": "first"}, count=1)
    tc_queue.assert_not_enqueued("indexEndpoint", {"reason": "second"})
