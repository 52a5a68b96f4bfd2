"""examples/cutover: the cut-over without a stop, run end to end with graphile-worker 0.16.6 and
ZodWorker's statements (Node) and a Python worker on one database, then the way back."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql

from examples.cutover import run

if shutil.which("node") is None:
    pytest.skip(
        "node is not installed: the example drives graphile-worker", allow_module_level=True
    )
if not (run.NODE_MODULES / "graphile-worker-0.16").is_dir():
    pytest.skip(
        "graphile-worker is not installed: run `npm ci --prefix tests/graphile/node`",
        allow_module_level=True,
    )


@pytest.fixture()
def schemas(database_url: str, schema: str) -> Iterator[run.Schemas]:
    names = run.Schemas(graphile=f"{schema}_g", trigger_compat=schema, face=f"{schema}_f")
    yield names
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name in (names.graphile, names.face):
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(name)))


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_the_cut_over_runs_every_job_once_and_the_way_back(
    database_url: str, schemas: run.Schemas
) -> None:
    lines: list[str] = []
    run.prepare(database_url, schemas)
    result: dict[str, Any] = await run.cutover(database_url, schemas, say=lines.append)

    # graphile-worker's own addJob and cron made the old side: 5 jobs, one recurring task.
    assert [r["key"] for r in result["graphile_added"]] == [
        "event:evt_1",
        None,
        None,
        "process-callback:task_1",
        "scheduled:sched_1",
    ]
    (crontab,) = result["graphile_crontabs"]
    assert crontab["identifier"] == "purgeOldIndexings"

    # The first import moved them all and the straggler, with the recurring task's position.
    first = result["import"]
    # (graphile-worker's cron adds a purgeOldIndexings job if the set-up crosses minute 0.)
    tick = first["by_task"].pop("purgeOldIndexings", {"moved": 0})["moved"]
    assert (first["moved"] - tick, first["key_kept"], first["graphile_version"]) == (6, 0, "0.16")
    assert first["crontabs"] == ["purgeOldIndexings"]
    assert {t: (c["moved"], c["waiting"], c["scheduled"]) for t, c in first["by_task"].items()} == {
        "deliverEvent": (2, 2, 0),
        "deliverWebhookRequest": (1, 1, 0),
        "scheduleEmail": (1, 1, 0),
        "processCallbackTimeout": (1, 0, 1),
        "events.deliverScheduled": (1, 0, 1),
    }
    assert result["known_crontabs"]["purgeOldIndexings"] == _when(crontab["known_since"])
    # The second moved what a late instance enqueued into graphile-worker, nothing else.
    second = result["second_import"]
    assert second["moved"] == 1 and list(second["by_task"]) == ["startRun"]
    assert second["crontabs"] == []

    # Through the face, every row ZodWorker's parser sees parses; an unknown key is undefined.
    calls = result["face_before_import"] + result["face_after_import"] + result["face_way_back"]
    assert [(c["call"], c["parsed"]) for c in calls] == [
        ("enqueue deliverEvent", True),
        ("dequeue process-callback:task_1", True),
        ("enqueue events.deliverScheduled", True),
        ("dequeue event:never-enqueued", False),
        ("enqueue scheduleEmail", True),
        ("enqueue probeEndpoint", True),
    ]
    dequeued, rescheduled = (c["job"] for c in result["face_after_import"][:2])
    assert dequeued["key"] == "process-callback:task_1" and dequeued["payload"] == {"id": "task_1"}
    assert rescheduled["key"] == "scheduled:sched_1" and rescheduled["revision"] == 1
    assert result["face_after_import"][2]["job"] is None

    # The Python worker ran every job once, moved or new, on its first attempt; not the
    # dequeued timeout, and the rescheduled tick with its new payload.
    ran = result["python_ran"]
    assert all(r["attempt"] == 1 for r in ran)
    assert Counter((r["identifier"], json.dumps(r["payload"], sort_keys=True)) for r in ran) == {
        (identifier, json.dumps(payload, sort_keys=True)): 1
        for identifier, payload in [
            ("deliverEvent", {"id": "evt_1"}),
            ("deliverEvent", {"id": "evt_2"}),
            ("deliverEvent", {"id": "evt_3"}),
            ("deliverWebhookRequest", {"id": "whr_1"}),
            ("scheduleEmail", {"email": "welcome", "to": "ada@example.com"}),
            ("scheduleEmail", {"email": "invite"}),
            ("events.deliverScheduled", {"id": "sched_1", "payload": {"ts": "now"}}),
            ("startRun", {"id": "run_1"}),
        ]
    }
    assert len(ran) == run.PYTHON_RUNS

    # The way back: the job left in trigger-compat went back, and graphile-worker ran it.
    back = result["export"]
    assert back["moved"] == 1 and list(back["by_task"]) == ["probeEndpoint"]
    assert "timed_out" not in result["graphile_ran"]
    assert result["graphile_ran"]["ran"] == [
        {"identifier": "probeEndpoint", "payload": {"id": "ep_1"}, "attempts": 1}
    ]
    assert result["jobs_left"] == {"graphile": 0, "trigger_compat": 0}
    assert result["face_exists"] is False
    assert any("graphile face uninstall" in line for line in lines)
