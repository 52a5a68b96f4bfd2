"""OpenTelemetry spans for adding and running jobs (needs ``pip install 'trigger-compat[otel]'``
and an SDK configured by the application; without them nothing here is imported or done).

* Adding a job (``add_job``, ``add_jobs``, ``enqueue``, ``enqueue_many``) makes a PRODUCER
  span ``Enqueue <identifier>`` (as trigger.dev's ZodWorker named it) and stores the trace
  context (W3C ``traceparent``, and ``tracestate``/``baggage`` when present, through the
  globally configured propagator) with the job, in ``jobs.trace_context``.
* Running a job makes a CONSUMER span ``Run <identifier>`` in the worker's process: a child
  of the producer span, with a link to it, so the trace goes on across processes. A failed
  attempt records the exception and sets the span's status to ERROR.

Attributes follow the OpenTelemetry messaging semantic conventions: ``messaging.system``
(``trigger_compat``), ``messaging.operation.type`` (``send``, ``process``; also the older
``messaging.operation``: ``publish``, ``process``), ``messaging.operation.name``
(``enqueue``, ``run``), ``messaging.destination.name`` (the task identifier),
``messaging.message.id`` (the job id), ``messaging.batch.message_count`` (a batch add), and
``trigger_compat.queue_name``, ``trigger_compat.attempt``, ``trigger_compat.max_attempts``.

Whether OpenTelemetry is installed is found once, at import, without importing it
(:data:`AVAILABLE`); every function below returns at once when it is not.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from .core.jobs import Job


def _installed() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry") is not None
    except (ImportError, ValueError):
        return False


AVAILABLE = _installed()
TRACER_NAME = "trigger_compat"
SYSTEM = "trigger_compat"


def _tracer() -> Any:
    from opentelemetry import trace

    # The package's version, read without importing the package (it imports the clients).
    version = getattr(sys.modules.get("trigger_compat"), "__version__", None)
    return trace.get_tracer(TRACER_NAME, version)


def _recording_tracer() -> Any | None:
    """The tracer to use, or None when no span could be recorded (no SDK configured: the
    API's no-op or still-unset proxy provider), so that a run pays nothing for tracing."""
    from opentelemetry import trace

    tracer = _tracer()
    if isinstance(tracer, trace.NoOpTracer):
        return None
    if isinstance(tracer, trace.ProxyTracer) and isinstance(
        trace.get_tracer_provider(), trace.ProxyTracerProvider
    ):
        return None
    return tracer


@contextmanager
def producer_span(
    identifiers: Sequence[str], queue_names: Sequence[str | None] = ()
) -> Iterator[tuple[Span | None, str | None]]:
    """A PRODUCER span around adding jobs of ``identifiers`` (one per job), and the trace
    context to store with them as JSON text (None when the span is not recorded: no SDK, or
    sampled out). Yields ``(None, None)`` when OpenTelemetry is not installed."""
    tracer = _recording_tracer() if AVAILABLE and identifiers else None
    if tracer is None:
        yield None, None
        return
    from opentelemetry import propagate, trace

    distinct = sorted(set(identifiers))
    name = f"Enqueue {distinct[0]}" if len(distinct) == 1 else "Enqueue many"
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "send",
        "messaging.operation": "publish",
        "messaging.operation.name": "enqueue",
    }
    if len(distinct) == 1:
        attributes["messaging.destination.name"] = distinct[0]
    if len(identifiers) > 1:
        attributes["messaging.batch.message_count"] = len(identifiers)
    queues = {q for q in queue_names if q is not None}
    if len(queues) == 1:
        attributes["trigger_compat.queue_name"] = queues.pop()
    with tracer.start_as_current_span(
        name, kind=trace.SpanKind.PRODUCER, attributes=attributes
    ) as span:
        context: str | None = None
        if span.is_recording():
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            context = json.dumps(carrier, sort_keys=True) if carrier else None
        yield span, context


def added(span: Span | None, result: object) -> None:
    """Record the ids of the jobs (a job, or a list of them) a producer span added."""
    if span is None:
        return
    items: list[object] = result if isinstance(result, list) else [result]
    ids = [str(getattr(j, "id", "")) for j in items]
    if len(ids) == 1:
        span.set_attribute("messaging.message.id", ids[0])
    elif ids:
        span.set_attribute("trigger_compat.job_ids", ids)


@contextmanager
def consumer_span(job: Job, worker_id: str | None = None) -> Iterator[Span | None]:
    """A CONSUMER span around one run of ``job``, continuing the trace stored with it."""
    tracer = _recording_tracer() if AVAILABLE else None
    if tracer is None:
        yield None
        return
    from opentelemetry import propagate, trace

    parent = None
    links = []
    if job.trace_context:
        parent = propagate.extract(job.trace_context)
        producer = trace.get_current_span(parent).get_span_context()
        if producer.is_valid:
            links.append(trace.Link(producer, {"messaging.operation.type": "send"}))
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "process",
        "messaging.operation": "process",
        "messaging.operation.name": "run",
        "messaging.destination.name": job.task_identifier,
        "messaging.message.id": str(job.id),
        "trigger_compat.attempt": job.attempts,
        "trigger_compat.max_attempts": job.max_attempts,
    }
    if job.queue_name is not None:
        attributes["trigger_compat.queue_name"] = job.queue_name
    if worker_id is not None:
        attributes["trigger_compat.worker_id"] = worker_id
    with tracer.start_as_current_span(
        f"Run {job.task_identifier}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes=attributes,
        links=links,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def failed(span: Span | None, exc: BaseException) -> None:
    """Mark a consumer span's run as failed with ``exc``."""
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode

    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
