"""``trigger-compat status --watch``: the live view, refreshed in place, with rates."""

from __future__ import annotations

import json

from trigger_compat import Client
from trigger_compat.core.rates import Rates, Sample, last_job_id, rates

from .conftest import CLI

HEADER = "every 0.1 s, "


def test_rates_between_two_samples() -> None:
    before = Sample(at=10.0, last_id=100, jobs=40, failed=2)
    # 30 added, the table grew by 10: 20 finished; 1 more failed for good.
    after = Sample(at=12.0, last_id=130, jobs=50, failed=3)
    assert rates(before, after) == Rates(added=15.0, finished=10.0, failed=0.5, seconds=2.0)
    assert rates(after, after) is None
    # Failed jobs retried or cleaned up never make a negative rate.
    assert rates(after, Sample(13.0, 130, 45, 0)) == Rates(0.0, 5.0, 0.0, 1.0)


def test_last_job_id(client: Client) -> None:
    assert client.execute(last_job_id(client.schema), None) == 0
    jobs = [client.add_job("t", {}) for _ in range(3)]
    client.complete_jobs([jobs[-1].id])
    assert client.execute(last_job_id(client.schema), None) == jobs[-1].id


def test_watch_refreshes_in_place(cli: CLI, client: Client) -> None:
    for _ in range(3):
        client.add_job("sendEmail", {"to": "a@example.com"})
    run = cli("status", "--watch", "--interval", "0.1", "--iterations", "3")
    assert run.code == 0, run.err
    # On a terminal each refresh first clears the screen; off one (here) the escape codes
    # are left out and the refreshes follow each other.
    assert "\x1b[" not in run.out
    frames = run.out.split(HEADER)
    assert frames[0] == "" and len(frames) == 4
    for frame in frames[1:]:
        assert "(Ctrl-C to stop)" in frame
        assert f"schema {client.schema}: 3 job(s)" in frame
        assert "Jobs by task" in frame and "OLDEST WAITING" in frame and "Workers:" in frame
        row = next(x for x in frame.splitlines() if x.strip().startswith("sendEmail"))
        assert row.split()[1] == "3"
    assert "rates over" not in frames[1]  # the first refresh has nothing to compare with
    for frame in frames[2:]:
        assert "0.0 added/s, 0.0 finished/s, 0.0 failed/s" in frame


def test_watch_json_is_one_object_per_refresh(cli: CLI, client: Client) -> None:
    client.add_job("sendEmail", {"to": "a@example.com"})
    run = cli("status", "--watch", "--json", "--interval", "0.1", "--iterations", "2")
    assert run.code == 0, run.err
    first, second = (json.loads(line) for line in run.out.splitlines())
    assert first["rates"] is None and first["totals"]["total"] == 1
    assert second["rates"] == {
        "added_per_second": 0.0,
        "finished_per_second": 0.0,
        "failed_per_second": 0.0,
    }
