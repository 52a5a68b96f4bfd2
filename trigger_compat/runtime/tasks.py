"""Tasks: a handler and how to call it, plus the helpers handed to it."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..core.jobs import Job

if TYPE_CHECKING:
    from ..async_client import AsyncClient, AsyncTransaction

Handler = Callable[..., Any]
NextRetry = Callable[[Job, BaseException], "datetime | None"]
PayloadCheck = Callable[[Any], None]


class AbortSignal:
    """Set when the worker wants the handler to stop (shutdown or timeout).

    Usable from async handlers (``await signal.wait()``) and from sync handlers running on a
    thread (``signal.is_set()`` / ``signal.wait_sync(timeout)``). The events behind the two
    waits are made only when somebody waits: most jobs are never aborted and never wait.
    """

    __slots__ = ("_async_event", "_event", "_set", "reason")
    _lock = threading.Lock()  # guards the lazy threading.Event against a waiting thread

    def __init__(self) -> None:
        self.reason: str | None = None
        self._set = False
        self._event: threading.Event | None = None
        self._async_event: asyncio.Event | None = None

    @property
    def aborted(self) -> bool:
        return self._set

    def is_set(self) -> bool:
        return self._set

    def set(self, reason: str) -> None:
        """Abort (called on the worker's event loop)."""
        with AbortSignal._lock:
            self.reason = reason
            self._set = True
            event = self._event
        if event is not None:
            event.set()
        if self._async_event is not None:
            self._async_event.set()

    def wait_sync(self, timeout: float | None = None) -> bool:
        with AbortSignal._lock:
            if self._set:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)

    async def wait(self) -> None:
        if self._set:
            return
        if self._async_event is None:
            self._async_event = asyncio.Event()
        await self._async_event.wait()


class JobLogger(logging.LoggerAdapter[logging.Logger]):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = dict(self.extra or {})
        kwargs.setdefault("extra", {}).update(extra)
        return f"[job {extra.get('job_id')} {extra.get('task_identifier')}] {msg}", kwargs


@dataclass
class Helpers:
    """The third argument of a handler that takes three."""

    job: Job
    abort_signal: AbortSignal
    logger: logging.LoggerAdapter[logging.Logger]
    _client: AsyncClient
    _loop: asyncio.AbstractEventLoop

    async def add_job(
        self, identifier: str, payload: Any = None, *, tx: Any = None, **options: Any
    ) -> Job:
        """Add a follow-up job (from an async handler). ``tx``: a transaction of
        :meth:`transaction` (or an ``AsyncConnection`` of the handler's own), so that the job
        commits with the handler's writes."""
        return await self._client.add_job(identifier, payload, **options, tx=connection_of(tx))

    def add_job_sync(self, identifier: str, payload: Any = None, **options: Any) -> Job:
        """Add a follow-up job from a sync handler (which runs on a worker thread)."""
        future = asyncio.run_coroutine_threadsafe(
            self._client.add_job(identifier, payload, **options), self._loop
        )
        return future.result()

    def transaction(self) -> AbstractAsyncContextManager[AsyncTransaction]:
        """A transaction of the worker's client (``AsyncClient.transaction``), for an async
        handler whose writes and follow-up jobs must commit together::

            async with helpers.transaction() as tx:
                await tx.execute("update orders set state = 'paid' where id = %s", [oid])
                await tx.add_job("sendReceipt", {"order": oid})
        """
        return self._client.transaction()


def connection_of(tx: Any) -> Any:
    """The connection of an ``AsyncTransaction``, or ``tx`` itself (a connection or None)."""
    return getattr(tx, "connection", tx)


def _positional_count(fn: Callable[..., Any]) -> int:
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 3
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def _payload_model(fn: Callable[..., Any]) -> type[BaseModel] | None:
    try:
        hints = inspect.get_annotations(fn, eval_str=True)
    except Exception:
        return None
    params = list(inspect.signature(fn).parameters)
    if not params:
        return None
    annotation = hints.get(params[0])
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    return None


@dataclass
class Task:
    """A task identifier and its handler.

    ``handler(payload, job)`` or ``handler(payload, job, helpers)``, async or sync (sync ones
    run on the worker's thread pool). If the first parameter is annotated with a pydantic
    model, the handler receives an instance. ``check_payload`` (e.g. the catalog's JSON
    Schema) runs first; its failure is an ordinary job error.
    """

    identifier: str
    handler: Handler
    timeout: float | None = None
    next_retry: NextRetry | None = None
    check_payload: PayloadCheck | None = None
    swallow_final_failure: bool = True
    transform_payload: Callable[[Any], Any] | None = None
    _arity: int = field(init=False, repr=False)
    _is_async: bool = field(init=False, repr=False)
    _model: type[BaseModel] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not callable(self.handler):
            raise TypeError(f"task {self.identifier!r}: handler must be callable")
        self._arity = _positional_count(self.handler)
        if self._arity < 2:
            raise TypeError(
                f"task {self.identifier!r}: handler must take (payload, job) or "
                "(payload, job, helpers)"
            )
        self._is_async = inspect.iscoroutinefunction(self.handler) or inspect.iscoroutinefunction(
            getattr(self.handler, "__call__", None)  # noqa: B004
        )
        self._model = _payload_model(self.handler)

    def prepare(self, raw: Any) -> Any:
        """Check and convert the stored payload into what the handler receives."""
        if self.check_payload is not None:
            self.check_payload(raw)
        payload = self.transform_payload(raw) if self.transform_payload is not None else raw
        if self._model is not None:
            return self._model.model_validate(payload)
        return payload

    @property
    def is_async(self) -> bool:
        """Whether the handler is a coroutine function (else it runs on a worker thread)."""
        return self._is_async

    @property
    def takes_helpers(self) -> bool:
        """Whether the handler takes a third argument (the :class:`Helpers`)."""
        return self._arity >= 3

    async def call(
        self, payload: Any, job: Job, helpers: Helpers | None, executor: Executor | None
    ) -> Any:
        """Run the handler; ``helpers`` is passed when it :attr:`takes_helpers`."""
        args: tuple[Any, ...] = (payload, job, helpers) if self._arity >= 3 else (payload, job)
        if self._is_async:
            return await self.handler(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, lambda: self.handler(*args))
