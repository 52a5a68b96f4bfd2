"""A worker process with the OpenTelemetry SDK: ``traced_worker.py URL SCHEMA``.

Runs every job of the schema once (``Worker.run_once``): task ``ok`` succeeds after making a
span of its own, task ``bad`` raises. Then prints each finished span as one JSON line on
stdout (name, kind, ids as hex, parent, links, attributes, status, events).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from trigger_compat import AsyncClient
from trigger_compat.core.jobs import Job
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions


def span_json(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.get_span_context()
    assert ctx is not None
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "links": [
            {"trace_id": f"{link.context.trace_id:032x}", "span_id": f"{link.context.span_id:016x}"}
            for link in span.links
        ],
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
        "events": [event.name for event in span.events],
    }


async def main(url: str, schema: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    async def ok(payload: Any, job: Job) -> None:
        with trace.get_tracer("app").start_as_current_span("send the email"):
            pass

    async def bad(payload: Any, job: Job) -> None:
        raise RuntimeError("upstream returned 500")

    async with AsyncClient(url, schema=schema) as client:
        worker = Worker(
            client,
            {"ok": Task("ok", ok), "bad": Task("bad", bad)},
            name="traced",
            options=WorkerOptions(concurrency=2),
        )
        await worker.run_once()
    provider.force_flush()
    for span in exporter.get_finished_spans():
        print(json.dumps(span_json(span)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
