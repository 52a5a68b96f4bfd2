"""The dashboard's Starlette application: pages over the admin operations of
:mod:`trigger_compat.core.admin_ops`, and POST actions guarded by a CSRF token.

Every page is rendered on the server by Jinja2 with autoescaping on, so a payload, an error
text or a task name is always shown as text. htmx (served from ``static/``) only refreshes
the overview. The pages show the schema name, never the connection string.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from os import PathLike
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from ..client import Client
from ..core import admin_ops as ao
from ..core.catalog import Catalog, resolve_catalog
from ..core.cron import parse_cron
from ..core.dsn import redact_message
from ..core.ops import Op
from ..errors import (
    ConfigurationError,
    DatabaseUnavailableError,
    SchemaError,
    TriggerCompatError,
)

__all__ = ["create_app"]

CSRF_COOKIE = "tc_csrf"
SESSION_COOKIE = "tc_session"
PAGE_SIZE = 50
MAX_IDS_PER_ACTION = 1000
BULK_BATCH = 1000

_SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


class _Refused(TriggerCompatError):
    """An action or a request the dashboard refuses: shown as a page with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Settings:
    client: Client
    catalog: Catalog | None
    read_only: bool
    auth_token: str | None
    stale_after: float
    secret: bytes
    own_client: bool
    conninfo: str | None
    prefix: str
    sample_above: int


def _sign(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode("utf-8"), hashlib.sha256).hexdigest()


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("trigger_compat.web", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["age"] = _age
    env.filters["when"] = _when
    return env


# -- the throughput chart ------------------------------------------------------------------


@dataclass(frozen=True)
class _Bar:
    x: float
    width: float
    completed_y: float
    completed_h: float
    failed_y: float
    failed_h: float
    title: str


def _chart(points: Sequence[ao.ThroughputPoint], width: int = 600, height: int = 120) -> list[_Bar]:
    """Stacked bars (completed below, failed above) of an inline SVG, one per minute."""
    if not points:
        return []
    top = max(1, max(p.completed + p.failed for p in points))
    step = width / len(points)
    bars = []
    for i, p in enumerate(points):
        ch = height * p.completed / top
        fh = height * p.failed / top
        bars.append(
            _Bar(
                x=round(i * step + 0.5, 2),
                width=round(max(1.0, step - 1), 2),
                completed_y=round(height - ch, 2),
                completed_h=round(ch, 2),
                failed_y=round(height - ch - fh, 2),
                failed_h=round(fh, 2),
                title=f"{p.minute.astimezone(UTC):%H:%M} UTC: {p.completed} completed, "
                f"{p.failed} failed",
            )
        )
    return bars


# -- recurring ticks -------------------------------------------------------------------------


def _next_tick(expression: str, after: datetime, horizon_days: int = 8) -> datetime | None:
    """The first tick of ``expression`` after ``after`` within ``horizon_days`` (None beyond)."""
    try:
        schedule = parse_cron(expression)
    except Exception:
        return None
    t = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(horizon_days * 1440):
        if schedule.matches(t):
            return t
        t += timedelta(minutes=1)
    return None


# -- the application -------------------------------------------------------------------------


class _Guard:
    """ASGI middleware: security headers on every response, and, with an auth token, every
    request but the login page and the static files needs the session cookie or
    ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, settings: _Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.decode("latin-1").lower() for k, _ in headers}
                for k, v in _SECURITY_HEADERS.items():
                    if k not in present:
                        headers.append((k.encode("latin-1"), v.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        token = self.settings.auth_token
        if token is not None:
            request = Request(scope)
            base = scope.get("root_path", "") + self.settings.prefix
            path: str = scope["path"]
            rest = path[len(base) :] if path.startswith(base) else path
            if not (rest.startswith("/static/") or rest == "/login") and not _authorised(
                request, self.settings
            ):
                response: Response
                if request.method == "GET" and "hx-request" not in request.headers:
                    response = RedirectResponse(f"{base}/login", status_code=303)
                else:
                    response = Response("authentication required", status_code=401)
                await response(scope, receive, send_with_headers)
                return
        await self.app(scope, receive, send_with_headers)


def _authorised(request: Request, settings: _Settings) -> bool:
    token = settings.auth_token
    assert token is not None
    header = request.headers.get("authorization", "")
    if header.startswith("Bearer ") and hmac.compare_digest(
        header[7:].encode("utf-8"), token.encode("utf-8")
    ):
        return True
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return hmac.compare_digest(cookie, _sign(settings.secret, "session:" + token))


def create_app(
    database: str | Client,
    *,
    schema: str | None = None,
    catalog: Catalog | str | PathLike[str] | None = None,
    read_only: bool = False,
    auth_token: str | None = None,
    prefix: str = "",
    stale_after: float = 60.0,
    sample_above: int = 200_000,
) -> Starlette:
    """The dashboard as an ASGI application.

    ``database``: a connection string (the app opens a client with a small pool and closes it
    at shutdown) or a :class:`Client` (used as is). ``catalog`` shows each task's settings and
    the recurring schedules (default: the client's). ``read_only`` hides and refuses every
    action. ``auth_token``: when set, the pages need it (a login form sets a session cookie;
    scripts send ``Authorization: Bearer <token>``). ``prefix`` mounts the pages under a
    path (``/queue``); to mount into an existing Starlette or FastAPI application, pass the
    app to its ``Mount("/queue", app=...)`` with no prefix instead. A worker whose
    heartbeat is older than ``stale_after`` seconds is shown as stale. With more than
    ``sample_above`` jobs (the planner's estimate), the counts of waiting, scheduled and
    retrying jobs are estimated from a sample of about 10,000 (running and failed stay
    exact), so that a page never waits for a pass over a big table.
    """
    if auth_token is not None and not auth_token:
        raise ConfigurationError("auth_token", "must not be empty")
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise ConfigurationError(
            "prefix", "must start with '/' and not end with one (e.g. '/queue')"
        )
    if isinstance(database, Client):
        client, own = database, False
        conninfo = database.conninfo
    else:
        client, own, conninfo = Client(database, schema=schema, catalog=catalog), True, database
    resolved = resolve_catalog(catalog) if catalog is not None else client.catalog
    settings = _Settings(
        client=client,
        catalog=resolved,
        read_only=read_only,
        auth_token=auth_token,
        stale_after=stale_after,
        secret=secrets.token_bytes(32),
        own_client=own,
        conninfo=conninfo,
        prefix=prefix,
        sample_above=sample_above,
    )
    pages = _Pages(settings, _environment())
    routes: list[BaseRoute] = [
        Route("/", pages.overview, name="overview"),
        Route("/fragments/overview", pages.overview_fragment, name="overview_fragment"),
        Route("/jobs", pages.jobs, name="jobs"),
        Route("/jobs/{job_id:int}", pages.job, name="job"),
        Route("/queues", pages.queues, name="queues"),
        Route("/recurring", pages.recurring, name="recurring"),
        Route("/workers", pages.workers, name="workers"),
        Route("/login", pages.login, methods=["GET", "POST"], name="login"),
        Route("/actions/jobs", pages.act_on_jobs, methods=["POST"], name="act_on_jobs"),
        Route("/actions/failed", pages.act_on_failed, methods=["POST"], name="act_on_failed"),
        Route("/actions/pause", pages.pause, methods=["POST"], name="pause"),
        Mount("/static", StaticFiles(packages=[("trigger_compat.web", "static")]), name="static"),
    ]
    if prefix:
        routes = [Mount(prefix, routes=routes)]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if settings.own_client:
                client.close()

    return Starlette(
        routes=routes,
        middleware=[Middleware(_Guard, settings=settings)],
        lifespan=lifespan,
    )


Handler = Callable[[Request], Awaitable[Response]]


def _text(value: str | None) -> str | None:
    """A form or query value: None when missing or blank, else stripped."""
    if value is None:
        return None
    value = value.strip()
    return value or None


class _Pages:
    def __init__(self, settings: _Settings, env: jinja2.Environment) -> None:
        self.s = settings
        self.env = env

    # -- plumbing ------------------------------------------------------------------------

    @property
    def client(self) -> Client:
        return self.s.client

    def _pauser(self) -> bool:
        return callable(getattr(self.client, "pause", None)) and callable(
            getattr(self.client, "resume", None)
        )

    def render(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        nonce = request.cookies.get(CSRF_COOKIE)
        fresh = not nonce or len(nonce) != 64
        if fresh:
            nonce = secrets.token_hex(32)
        assert nonce is not None
        html = self.env.get_template(template).render(
            base=request.scope.get("root_path", ""),
            schema=self.client.schema,
            read_only=self.s.read_only,
            csrf=_sign(self.s.secret, "csrf:" + nonce),
            can_pause=self._pauser(),
            states=ao.JOB_STATES,
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        if fresh:
            response.set_cookie(
                CSRF_COOKIE,
                nonce,
                httponly=True,
                samesite="strict",
                path=request.scope.get("root_path", "") or "/",
            )
        return response

    def _run(self, op: Op[Any]) -> Any:
        return self.client.execute(op)

    async def _guarded(self, request: Request, body: Callable[[], Awaitable[Response]]) -> Response:
        try:
            return await body()
        except _Refused as exc:
            return self.render(
                request, "message.html", exc.status, title="Refused", text=exc.message
            )
        except TriggerCompatError as exc:
            text = redact_message(str(exc), self.s.conninfo)
            status = 503 if isinstance(exc, (DatabaseUnavailableError, SchemaError)) else 400
            return self.render(request, "message.html", status, title="Error", text=text)

    async def _form(self, request: Request) -> FormData:
        """The form of an action, after the read-only and CSRF checks."""
        if self.s.read_only:
            raise _Refused(403, "this dashboard is read-only: no action is allowed")
        form = await request.form()
        nonce = request.cookies.get(CSRF_COOKIE, "")
        token = form.get("csrf")
        if (
            not nonce
            or not isinstance(token, str)
            or not hmac.compare_digest(token, _sign(self.s.secret, "csrf:" + nonce))
        ):
            raise _Refused(403, "the form's CSRF token is missing or wrong: reload the page")
        return form

    async def _threaded(self, fn: Callable[[], Any]) -> Any:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(fn)

    # -- overview ------------------------------------------------------------------------

    def _counts(self) -> tuple[list[ao.StatusGroup], datetime | None, float | None]:
        """The job counts, and the percentage of the table they were sampled from (None:
        exact, the one pass of ``trigger-compat status``)."""
        estimate: int = self._run(ao.jobs_estimate(self.client.schema))
        if estimate > self.s.sample_above and estimate > 0:
            percent = round(min(100.0, max(0.01, 100.0 * 10_000 / estimate)), 3)
            groups, db_now = self._run(ao.job_counts_sampled(percent))
            return groups, db_now, percent
        groups, db_now = self._run(ao.job_counts())
        return groups, db_now, None

    def _overview_context(self) -> dict[str, Any]:
        groups, db_now, sampled = self._counts()
        status = ao.Status(groups, db_now, self._run(ao.workers()))
        points = self._run(ao.throughput(60))

        def rows(by: dict[str, ao.Counts]) -> list[dict[str, Any]]:
            return [{"name": n, "c": c, "age": status.oldest_waiting_age(c)} for n, c in by.items()]

        live = sum(1 for w in status.workers if w.heartbeat_age_seconds <= self.s.stale_after)
        totals = status.totals()
        return {
            "tasks": rows(status.by("task")),
            "queues": rows(status.by("queue")),
            "totals": totals,
            "totals_age": status.oldest_waiting_age(totals),
            "live": live,
            "stale": len(status.workers) - live,
            "bars": _chart(points),
            "completed": sum(p.completed for p in points),
            "failed": sum(p.failed for p in points),
            "now": db_now,
            "sampled": sampled,
        }

    async def overview(self, request: Request) -> Response:
        async def body() -> Response:
            ctx = await self._threaded(self._overview_context)
            return self.render(request, "overview.html", page="overview", **ctx)

        return await self._guarded(request, body)

    async def overview_fragment(self, request: Request) -> Response:
        async def body() -> Response:
            ctx = await self._threaded(self._overview_context)
            return self.render(request, "_overview.html", **ctx)

        return await self._guarded(request, body)

    # -- jobs ----------------------------------------------------------------------------

    async def jobs(self, request: Request) -> Response:
        q = request.query_params

        async def body() -> Response:
            state = _text(q.get("state"))
            if state is not None and state not in ao.JOB_STATES:
                raise _Refused(400, f"unknown state {state!r}: one of {', '.join(ao.JOB_STATES)}")
            selection = ao.JobFilter(
                task=_text(q.get("task")),
                queue=_text(q.get("queue")),
                state=state,
                key=_text(q.get("key")),
                error=_text(q.get("error")),
            )
            before_text = _text(q.get("before"))
            before = None
            if before_text is not None:
                if not before_text.isdigit() or len(before_text) > 19:
                    raise _Refused(400, "before must be a job id")
                before = int(before_text)
            found: list[ao.JobRow] = await self._threaded(
                lambda: self._run(ao.jobs_page(selection, before, PAGE_SIZE))
            )
            filters = {k: v for k, v in selection.params().items() if v is not None}
            next_url = None
            if len(found) == PAGE_SIZE:
                next_url = urlencode({**filters, "before": found[-1].job.id})
            return self.render(
                request,
                "jobs.html",
                page="jobs",
                rows=found,
                f=selection,
                filtered=bool(filters),
                next_query=next_url,
                first_query=urlencode(filters),
                before=before,
            )

        return await self._guarded(request, body)

    async def job(self, request: Request) -> Response:
        job_id = int(request.path_params["job_id"])

        async def body() -> Response:
            row: ao.JobRow | None = await self._threaded(lambda: self._run(ao.show_job(job_id)))
            if row is None:
                raise _Refused(404, f"no job {job_id} in schema {self.client.schema}")
            settings = None
            if self.s.catalog is not None:
                task = self.s.catalog.tasks.get(row.job.task_identifier)
                if task is not None:
                    settings = json.dumps(
                        task.model_dump(mode="json", by_alias=True, exclude_none=True),
                        indent=2,
                        ensure_ascii=False,
                        default=str,
                    )
            return self.render(
                request,
                "job.html",
                page="jobs",
                row=row,
                job=row.job,
                payload=json.dumps(row.job.payload, indent=2, ensure_ascii=False, default=str),
                settings=settings,
                in_catalog=self.s.catalog is not None,
            )

        return await self._guarded(request, body)

    # -- queues and tasks ------------------------------------------------------------------

    def _queues_context(self) -> dict[str, Any]:
        groups, db_now, sampled = self._counts()
        status = ao.Status(groups, db_now)
        queues = self._run(ao.queues())
        by_task = status.by("task")
        catalog = self.s.catalog
        tasks = []
        names = sorted({*by_task, *(catalog.tasks if catalog else {})})
        for name in names:
            settings = catalog.tasks.get(name) if catalog else None
            worker = None
            if catalog is not None:
                worker = next((w for w, ws in catalog.workers.items() if name in ws.tasks), None)
            tasks.append(
                {
                    "name": name,
                    "c": by_task.get(name, ao.Counts()),
                    "settings": settings,
                    "worker": worker,
                    "concurrency": catalog.workers[worker].concurrency
                    if worker and catalog
                    else None,
                }
            )
        configured = dict(catalog.queues) if catalog else {}
        paused: set[tuple[str, str]] = set()
        listing = getattr(self.client, "paused", None)
        if self._pauser() and callable(listing):
            paused = {(str(r.kind), str(r.name)) for r in listing()}
        return {
            "queues": queues,
            "tasks": tasks,
            "configured": configured,
            "paused": paused,
            "sampled": sampled,
        }

    async def queues(self, request: Request) -> Response:
        async def body() -> Response:
            ctx = await self._threaded(self._queues_context)
            return self.render(request, "queues.html", page="queues", **ctx)

        return await self._guarded(request, body)

    # -- recurring -------------------------------------------------------------------------

    def _recurring_context(self) -> dict[str, Any]:
        rows: list[ao.CrontabRow] = self._run(ao.crontabs())
        known = {r.identifier: r for r in rows}
        now = rows[0].db_now if rows else datetime.now(UTC)
        catalog = self.s.catalog
        items: dict[str, dict[str, Any]] = {}
        if catalog is not None:
            for name, task in catalog.recurring_tasks.items():
                items[name] = {"schedule": task.match, "backfill": task.options.backfill_period}
            for worker in catalog.workers.values():
                if worker.cleanup is not None:
                    items["__cleanupOldJobs"] = {
                        "schedule": worker.cleanup.frequency_expression,
                        "backfill": worker.cleanup.task_options.backfill_period,
                    }
        out = []
        for name in sorted({*items, *known}):
            item = items.get(name, {})
            schedule = item.get("schedule")
            row = known.get(name)
            out.append(
                {
                    "name": name,
                    "schedule": schedule,
                    "backfill": item.get("backfill"),
                    "last": row.last_execution if row else None,
                    "known_since": row.known_since if row else None,
                    "next": _next_tick(schedule, now) if schedule else None,
                }
            )
        return {"items": out, "has_catalog": catalog is not None}

    async def recurring(self, request: Request) -> Response:
        async def body() -> Response:
            ctx = await self._threaded(self._recurring_context)
            return self.render(request, "recurring.html", page="recurring", **ctx)

        return await self._guarded(request, body)

    # -- workers ---------------------------------------------------------------------------

    async def workers(self, request: Request) -> Response:
        async def body() -> Response:
            rows: list[ao.WorkerRow] = await self._threaded(lambda: self._run(ao.workers()))
            return self.render(
                request, "workers.html", page="workers", rows=rows, stale_after=self.s.stale_after
            )

        return await self._guarded(request, body)

    # -- login ------------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        base = request.scope.get("root_path", "")
        token = self.s.auth_token
        if token is None:
            return RedirectResponse(f"{base}/", status_code=303)
        if request.method == "GET":
            return self.render(request, "login.html", page="login", wrong=False)
        form = await request.form()
        given = form.get("token")
        if isinstance(given, str) and hmac.compare_digest(
            given.encode("utf-8"), token.encode("utf-8")
        ):
            response = RedirectResponse(f"{base}/", status_code=303)
            response.set_cookie(
                SESSION_COOKIE,
                _sign(self.s.secret, "session:" + token),
                httponly=True,
                samesite="strict",
                path=base or "/",
            )
            return response
        return self.render(request, "login.html", 401, page="login", wrong=True)

    # -- actions ----------------------------------------------------------------------------

    def _done(self, request: Request, text: str, back: str) -> Response:
        return self.render(request, "message.html", title="Done", text=text, back=back)

    async def act_on_jobs(self, request: Request) -> Response:
        async def body() -> Response:
            form = await self._form(request)
            action = form.get("action")
            raw = [v for v in form.getlist("id") if isinstance(v, str)]
            if not raw:
                raise _Refused(400, "no job selected")
            if len(raw) > MAX_IDS_PER_ACTION:
                raise _Refused(400, f"at most {MAX_IDS_PER_ACTION} jobs at once")
            if not all(v.isdigit() and len(v) <= 18 for v in raw):
                raise _Refused(400, "job ids are numbers")
            ids = sorted({int(v) for v in raw})
            message = _text(_str(form.get("message"))) or "failed from the dashboard"
            delay_text = _text(_str(form.get("delay_minutes"))) or "0"
            try:
                delay = float(delay_text)
            except ValueError:
                raise _Refused(400, "the delay is a number of minutes") from None
            if not 0 <= delay <= 525_600:
                raise _Refused(400, "the delay is between 0 and 525600 minutes (a year)")
            verbs = {
                "retry": "Retry now (attempts reset)",
                "fail": "Fail permanently",
                "remove": "Delete",
                "reschedule": f"Reschedule to {delay:g} minute(s) from now",
            }
            if action not in verbs:
                raise _Refused(400, "unknown action")
            back = _str(form.get("back")) or ""
            if not back.startswith("/") or back.startswith("//"):
                back = f"{request.scope.get('root_path', '')}/jobs"
            if len(ids) > 1 and form.get("confirm") != "yes":
                return self.render(
                    request,
                    "confirm.html",
                    title=f"{verbs[action]}: {len(ids)} jobs?",
                    action_url="actions/jobs",
                    fields=[
                        ("action", action),
                        ("message", message),
                        ("delay_minutes", delay_text),
                        ("back", back),
                        *(("id", str(i)) for i in ids),
                    ],
                    back=back,
                    ids=ids,
                )

            def run() -> list[int]:
                c = self.client
                if action == "retry":
                    return c.execute(ao.retry_ids(ids))
                if action == "remove":
                    return c.execute(ao.remove_ids(ids))
                if action == "fail":
                    return [j.id for j in c.permanently_fail_jobs(ids, message)]
                when = datetime.now(UTC) + timedelta(minutes=delay)
                return [j.id for j in c.reschedule_jobs(ids, run_at=when)]

            done = sorted(await self._threaded(run))
            skipped = sorted(set(ids) - set(done))
            past = {"retry": "Retried", "fail": "Failed", "remove": "Deleted",
                    "reschedule": "Rescheduled"}[action]  # fmt: skip
            text = f"{past} {_plural(len(done), 'job')}"
            if done:
                text += ": " + ", ".join(map(str, done))
            if action == "reschedule":
                text += f" (to run in {delay:g} minute(s))"
            if skipped:
                text += "; not found or running, left alone: " + ", ".join(map(str, skipped))
            return self._done(request, text + ".", back)

        return await self._guarded(request, body)

    async def act_on_failed(self, request: Request) -> Response:
        async def body() -> Response:
            form = await self._form(request)
            action = form.get("action")
            if action not in ("retry", "clean"):
                raise _Refused(400, "unknown action")
            task = _text(_str(form.get("task")))
            older_text = _text(_str(form.get("older_than_minutes"))) or "0"
            if not older_text.isdigit() or len(older_text) > 7:
                raise _Refused(400, "older than: a whole number of minutes")
            older = int(older_text)
            cutoff = datetime.now(UTC) - timedelta(minutes=older) if older else None
            selection = ao.FailedSelection(task, cutoff)
            base = request.scope.get("root_path", "")
            back = f"{base}/queues"
            what = f"the failed jobs of {task!r}" if task else "every failed job"
            if older:
                what += f" that failed at least {older} minute(s) ago"
            total, max_id = await self._threaded(lambda: self._run(ao.count_failed(selection)))
            if form.get("confirm") != "yes" or _text(_str(form.get("max_id"))) is None:
                if total == 0:
                    return self._done(
                        request, f"No failed jobs match ({what}); nothing to do.", back
                    )
                verb = "Retry now (attempts reset)" if action == "retry" else "Delete"
                return self.render(
                    request,
                    "confirm.html",
                    title=f"{verb} {_plural(total, 'failed job')}: {what}?",
                    action_url="actions/failed",
                    fields=[
                        ("action", action),
                        ("task", task or ""),
                        ("older_than_minutes", older_text),
                        ("max_id", str(max_id)),
                    ],
                    back=back,
                    ids=[],
                )
            confirmed_max = _str(form.get("max_id")) or "0"
            if not confirmed_max.isdigit():
                raise _Refused(400, "max_id is a job id")
            # Never more than was counted and confirmed: the ids up to the highest one shown.
            limit = min(int(confirmed_max), max_id)
            batch_op = ao.retry_failed_batch if action == "retry" else ao.clean_failed_batch

            def run() -> tuple[int, int]:
                after, done, statements = 0, 0, 0
                while True:
                    ids = self._run(batch_op(selection, after, limit, BULK_BATCH))
                    statements += 1
                    if not ids:
                        return done, statements
                    done += len(ids)
                    after = ids[-1]

            done, statements = await self._threaded(run)
            past = "Retried" if action == "retry" else "Deleted"
            in_statements = _plural(statements, "statement")
            text = f"{past} {_plural(done, 'failed job')} ({what}) in {in_statements}."
            return self._done(request, text, back)

        return await self._guarded(request, body)

    async def pause(self, request: Request) -> Response:
        async def body() -> Response:
            form = await self._form(request)
            if not self._pauser():
                raise _Refused(404, "pausing is not available in this version")
            kind = form.get("kind")
            name = _text(_str(form.get("name")))
            action = form.get("action")
            if kind not in ("queue", "task") or name is None or action not in ("pause", "resume"):
                raise _Refused(400, "pause or resume a queue or a task by name")
            method = getattr(self.client, action)
            await self._threaded(lambda: method(**{kind: name}))
            past = "Paused" if action == "pause" else "Resumed"
            return self._done(
                request, f"{past} {kind} {name!r}.", f"{request.scope.get('root_path', '')}/queues"
            )

        return await self._guarded(request, body)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
