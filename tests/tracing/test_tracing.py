"""OpenTelemetry: a producer span per add in this process, a consumer span per run in a worker
process, one trace across the two through the trace context stored with the job."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from trigger_compat import Client, tracing

WORKER = Path(__file__).with_name("traced_worker.py")


@pytest.fixture()
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """The spans of a tracer provider of the test's own (the global one is left alone, so no
    other test in this process records spans)."""
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(tracing, "_tracer", lambda: provider.get_tracer(tracing.TRACER_NAME))
    monkeypatch.setattr(trace, "get_tracer", provider.get_tracer)
    yield memory
    provider.shutdown()


def run_worker(database_url: str, schema: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, str(WORKER), database_url, schema],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def trace_context(db: psycopg.Connection[Any], schema: str, job_id: int) -> Any:
    row = db.execute(
        psycopg.sql.SQL("select trace_context from {}.jobs where id = %s").format(
            psycopg.sql.Identifier(schema)
        ),
        (job_id,),
    ).fetchone()
    assert row is not None
    return row[0]


def test_a_job_added_here_and_run_elsewhere_is_one_trace(
    spans: InMemorySpanExporter,
    database_url: str,
    schema: str,
    client: Client,
    db: psycopg.Connection[Any],
) -> None:
    with trace.get_tracer("app").start_as_current_span("POST /signup"):
        good = client.add_job("ok", {"to": "a@example.com"}, queue_name="mail")
    bad = client.add_job("bad", {}, max_attempts=2)

    produced = {s.name: s for s in spans.get_finished_spans()}
    enqueue_ok, enqueue_bad = produced["Enqueue ok"], produced["Enqueue bad"]
    assert enqueue_ok.kind == enqueue_bad.kind == SpanKind.PRODUCER
    assert enqueue_ok.parent is not None  # inside the application's span
    assert enqueue_ok.parent.span_id == produced["POST /signup"].context.span_id
    assert dict(enqueue_ok.attributes or {}) == {
        "messaging.system": "trigger_compat",
        "messaging.operation.type": "send",
        "messaging.operation": "publish",
        "messaging.operation.name": "enqueue",
        "messaging.destination.name": "ok",
        "messaging.message.id": str(good.id),
        "trigger_compat.queue_name": "mail",
    }
    # Stored with the job: the W3C traceparent of the producer span.
    ctx = enqueue_ok.context
    stored = trace_context(db, schema, good.id)
    assert list(stored) == ["traceparent"]
    version, trace_id, parent_id, flags = stored["traceparent"].split("-")
    assert (version, trace_id, parent_id) == ("00", f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")
    assert int(flags, 16) & 1  # sampled

    consumed = {s["name"]: s for s in run_worker(database_url, schema)}
    run_ok, run_bad = consumed["Run ok"], consumed["Run bad"]
    for run, enqueue, job in ((run_ok, enqueue_ok, good), (run_bad, enqueue_bad, bad)):
        producer = {
            "trace_id": f"{enqueue.context.trace_id:032x}",
            "span_id": f"{enqueue.context.span_id:016x}",
        }
        assert run["kind"] == "CONSUMER"
        assert run["trace_id"] == producer["trace_id"]  # one trace across the processes
        assert run["parent_span_id"] == producer["span_id"]
        assert run["links"] == [producer]
        assert run["attributes"]["messaging.system"] == "trigger_compat"
        assert run["attributes"]["messaging.operation.type"] == "process"
        assert run["attributes"]["messaging.destination.name"] == job.task_identifier
        assert run["attributes"]["messaging.message.id"] == str(job.id)
        assert run["attributes"]["trigger_compat.attempt"] == 1
        assert run["attributes"]["trigger_compat.worker_id"].startswith("traced-")
    assert run_ok["status"] == "UNSET" and run_ok["events"] == []
    assert run_bad["status"] == "ERROR" and run_bad["events"] == ["exception"]
    # The handler's own span is a child of the run's.
    assert consumed["send the email"]["parent_span_id"] == run_ok["span_id"]


def test_a_batch_add_is_one_producer_span(
    spans: InMemorySpanExporter, client: Client, db: psycopg.Connection[Any], schema: str
) -> None:
    from trigger_compat.core.jobs import JobSpec

    jobs = client.add_jobs([JobSpec(identifier="ok"), JobSpec(identifier="bad")])
    [span] = spans.get_finished_spans()
    assert span.name == "Enqueue many" and span.kind == SpanKind.PRODUCER
    assert (span.attributes or {})["messaging.batch.message_count"] == 2
    assert list((span.attributes or {})["trigger_compat.job_ids"]) == [str(j.id) for j in jobs]
    for job in jobs:
        assert trace_context(db, schema, job.id)["traceparent"].split("-")[2] == (
            f"{span.context.span_id:016x}"
        )
    # The setting is transaction-local: a job added afterwards on the same server without
    # a span has none.
    plain = db.execute(
        psycopg.sql.SQL("insert into {}.jobs (task_identifier) values ('ok') returning id").format(
            psycopg.sql.Identifier(schema)
        )
    ).fetchone()
    assert plain is not None and trace_context(db, schema, plain[0]) is None


NO_OTEL = """
import asyncio, sys

class Absent:
    # As if OpenTelemetry were not installed.
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "opentelemetry":
            raise ModuleNotFoundError(name)
        return None

sys.meta_path.insert(0, Absent())

from trigger_compat import AsyncClient, tracing
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker

async def main(url, schema):
    async with AsyncClient(url, schema=schema) as client:
        await client.add_job("ok", {})
        job = await client.add_job("later", {})
        async def ok(payload, job):
            return None
        # Runs "ok" only: the "later" job stays, to be looked at.
        assert await Worker(client, {"ok": Task("ok", ok)}).run_once() == 1
    assert not tracing.AVAILABLE
    assert not [m for m in sys.modules if m.startswith("opentelemetry")]
    print(job.id)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def test_without_opentelemetry_nothing_is_imported(
    database_url: str, schema: str, client: Client, db: psycopg.Connection[Any]
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", NO_OTEL, database_url, schema],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert trace_context(db, schema, int(done.stdout)) is None
