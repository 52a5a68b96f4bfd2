"""The dashboard's routes and actions, through Starlette's test client, against PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.conninfo import conninfo_to_dict, make_conninfo

pytest.importorskip("starlette")
pytest.importorskip("jinja2")
pytest.importorskip("multipart")

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from trigger_compat import AsyncClient, Client
from trigger_compat.cli import main
from trigger_compat.cli.dashboard import is_loopback
from trigger_compat.core import admin_ops as ao
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions
from trigger_compat.web import create_app

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "catalog.yaml"
HOSTILE = '"<script>alert(1)</script>'
PAGES = ["/", "/fragments/overview", "/jobs", "/queues", "/recurring", "/workers"]


@pytest.fixture()
def web(client: Client) -> Iterator[TestClient]:
    with TestClient(create_app(client, catalog=CATALOG)) as t:
        yield t


def csrf(t: TestClient, path: str = "/jobs") -> str:
    """The CSRF token of a page's forms (the page also sets the cookie it belongs to)."""
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', t.get(path).text)
    assert found, "the page has no form with a CSRF token"
    return found[1]


def failed_job(client: Client, task: str = "t", **options: Any) -> int:
    job = client.add_job(task, {"n": 1}, max_attempts=1, **options)
    client.permanently_fail_jobs([job.id], "Error: boom\n    at handler (t.ts:1)")
    return job.id


def state_of(client: Client, job_id: int) -> str | None:
    row = client.execute(ao.show_job(job_id))
    return None if row is None else row.state


# -- pages ---------------------------------------------------------------------------------


def test_every_page_renders(client: Client, web: TestClient) -> None:
    failed = failed_job(client, "deliverEvent", queue_name="sources:1")
    client.add_job("startRun", {"id": "r1"}, run_at=datetime.now(UTC) + timedelta(hours=1))
    for path in [*PAGES, f"/jobs/{failed}"]:
        r = web.get(path)
        assert r.status_code == 200, (path, r.text)
        assert "text/html" in r.headers["content-type"]
        assert "script-src 'self'" in r.headers["content-security-policy"]
    overview = web.get("/").text
    assert "deliverEvent" in overview and "startRun" in overview and "sources:1" in overview
    assert 'hx-trigger="every 5s"' in overview  # refreshes by itself
    assert "<svg" in overview  # the throughput chart
    assert "/static/htmx.min.js" in overview
    assert web.get("/static/htmx.min.js").text.startswith("/* htmx 2.")
    job = web.get(f"/jobs/{failed}").text
    assert "at handler (t.ts:1)" in job and "failed" in job
    assert "&#34;n&#34;: 1" in job  # the payload, pretty-printed
    assert "&#34;maxAttempts&#34;: 5" in job  # the catalog settings of deliverEvent
    queues = web.get("/queues").text
    assert "sources:1" in queues and "Retry all failed" in queues
    recurring = web.get("/recurring").text
    assert "__cleanupOldJobs" in recurring or "<code>" in recurring
    assert web.get("/jobs/999999").status_code == 404


def test_overview_counts_by_state_and_oldest_waiting(client: Client, web: TestClient) -> None:
    client.add_job("a", {}, run_at=datetime.now(UTC) - timedelta(minutes=5))
    client.add_job("a", {}, run_at=datetime.now(UTC) + timedelta(minutes=5))
    failed_job(client, "a")
    html = web.get("/fragments/overview").text
    row = re.search(r'<td><a href="/jobs\?task=a">a</a></td>(.*?)</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num[^"]*">(?:<a [^>]*>)?([^<]*)', row[1])
    # waiting, scheduled, running, retrying, failed, oldest waiting
    assert cells[:5] == ["1", "1", "0", "0", "1"]
    assert cells[5].startswith(("4m", "5m"))


def test_workers_page_shows_live_and_stale(client: Client, web: TestClient) -> None:
    from trigger_compat.core import worker_ops

    client.execute(worker_ops.heartbeat("w-live", "main", "host-a", 4242, None))
    client.execute(worker_ops.heartbeat("w-old", "main", "host-b", 4343, ["t"]))
    with psycopg.connect(client.conninfo or "", autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL(
                "update {}.workers set last_heartbeat_at = now() - interval '10 minutes' "
                "where worker_id = 'w-old'"
            ).format(psycopg.sql.Identifier(client.schema))
        )
    html = web.get("/workers").text
    live = html[html.index("w-live") :].split("</tr>")[0]
    old = html[html.index("w-old") :].split("</tr>")[0]
    assert "live" in live and "host-a" in live and "4242" in live
    assert "stale" in old and "host-b" in old and "10m" in old


def test_recurring_page_shows_schedule_last_and_next_tick(client: Client, web: TestClient) -> None:
    with psycopg.connect(client.conninfo or "", autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL(
                "insert into {}.known_crontabs (identifier, known_since, last_execution) "
                "values ('scheduleImminentDeferredEvents', now() - interval '1 day', "
                "date_trunc('minute', now()) - interval '1 hour')"
            ).format(psycopg.sql.Identifier(client.schema))
        )
    html = web.get("/recurring").text
    row = html[html.index("scheduleImminentDeferredEvents") :].split("</tr>")[0]
    assert "<code>*/10 * * * *</code>" in row
    last, following, since = re.findall(r"<td>([^<]*UTC)</td>", row)
    assert since < last < following  # the same format sorts by time
    minute = int(following.split(":")[1])
    assert minute % 10 == 0  # the next tick of */10
    # a recurring task of the catalog the scheduler has not met yet: its next tick only
    row = html[html.index("autoIndexProductionEndpoints") :].split("</tr>")[0]
    assert "<code>*/30 * * * *</code>" in row and row.count("UTC") == 1


# -- the jobs list -------------------------------------------------------------------------


def ids_on(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'class="job-link">(\d+)<', html)]


def test_jobs_keyset_pagination(client: Client, web: TestClient) -> None:
    added: list[int] = []
    for n in range(120):
        added.append(client.add_job("p", {"n": n}).id)
    first = web.get("/jobs").text
    page1 = ids_on(first)
    assert page1 == sorted(added, reverse=True)[:50]
    next_link = re.search(r'href="/jobs\?([^"]*)" id="next-page"', first)
    assert next_link and f"before={page1[-1]}" in next_link[1]
    page2 = ids_on(web.get(f"/jobs?before={page1[-1]}").text)
    page3_html = web.get(f"/jobs?before={page2[-1]}").text
    page3 = ids_on(page3_html)
    assert page2 == sorted(added, reverse=True)[50:100]
    assert page3 == sorted(added, reverse=True)[100:]
    assert 'id="next-page"' not in page3_html
    query = (ROOT / "trigger_compat/sql/queries/admin_jobs_page.sql").read_text()
    assert "offset" not in query.split("\n", 4)[-1].lower()


def test_jobs_filters(client: Client, web: TestClient) -> None:
    a = client.add_job("alpha", {}, queue_name="qa", job_key="key-a").id
    b = client.add_job("beta", {}).id
    c = failed_job(client, "beta")
    client.permanently_fail_jobs([c], "TimeoutError: upstream took too long")
    assert ids_on(web.get("/jobs?task=alpha").text) == [a]
    assert ids_on(web.get("/jobs?queue=qa").text) == [a]
    assert ids_on(web.get("/jobs?key=key-a").text) == [a]
    assert ids_on(web.get("/jobs?state=failed").text) == [c]
    assert ids_on(web.get("/jobs?task=beta&state=waiting").text) == [b]
    assert ids_on(web.get("/jobs?error=UPSTREAM").text) == [c]  # case-insensitive
    assert ids_on(web.get("/jobs?error=100%25").text) == []  # % is text, not a pattern
    assert web.get("/jobs?state=bogus").status_code == 400
    assert web.get("/jobs?before=abc").status_code == 400


# -- escaping and secrets ------------------------------------------------------------------


def test_hostile_payload_task_names_and_errors_are_escaped(client: Client, web: TestClient) -> None:
    job = client.add_job(
        HOSTILE, {"html": HOSTILE, "<img src=x onerror=alert(1)>": 1},
        queue_name=HOSTILE, job_key=HOSTILE,
    )  # fmt: skip
    failed = failed_job(client, HOSTILE)
    client.permanently_fail_jobs([failed], HOSTILE)
    for path in [
        *PAGES,
        f"/jobs/{job.id}",
        f"/jobs/{failed}",
        "/jobs?task=%3Cscript%3E",
        "/jobs?error=%3Cscript%3E",
    ]:
        html = web.get(path).text
        assert "<script>alert" not in html, path
        assert "<img src=x" not in html, path
    job_page = web.get(f"/jobs/{job.id}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in job_page
    assert "&lt;img src=x onerror=alert(1)&gt;" in job_page
    # The only scripts are the package's own files.
    scripts = re.findall(r"<script[^>]*>", web.get("/").text)
    assert scripts == [
        '<script src="/static/htmx.min.js" defer>',
        '<script src="/static/dashboard.js" defer>',
    ]


def test_no_password_of_the_connection_string_on_any_page(
    database_url: str, schema: str, client: Client
) -> None:
    params = conninfo_to_dict(database_url)
    password = str(params.get("password") or "pw-Zq81-not-shown")
    url = make_conninfo(database_url, password=password)
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError:
        pytest.skip("the server checks passwords: cannot add one to its URL")
    failed = failed_job(client)
    with TestClient(create_app(url, schema=schema)) as t:
        for path in [*PAGES, f"/jobs/{failed}", "/jobs/424242"]:
            r = t.get(path)
            assert password not in r.text, path
            assert url not in r.text, path


# -- actions -------------------------------------------------------------------------------


def test_retry_one_failed_job_says_what_it_did(client: Client, web: TestClient) -> None:
    job_id = failed_job(client)
    token = csrf(web, f"/jobs/{job_id}")
    r = web.post("/actions/jobs", data={"csrf": token, "action": "retry", "id": str(job_id)})
    assert r.status_code == 200
    assert f"Retried 1 job: {job_id}." in r.text
    row = client.execute(ao.show_job(job_id))
    assert row is not None and row.state == "waiting" and row.job.attempts == 0


def test_reschedule_fail_and_remove_one_job(client: Client, web: TestClient) -> None:
    job_id = client.add_job("t", {}).id
    token = csrf(web)
    r = web.post(
        "/actions/jobs",
        data={"csrf": token, "action": "reschedule", "id": str(job_id), "delay_minutes": "30"},
    )
    assert f"Rescheduled 1 job: {job_id} (to run in 30 minute(s))." in r.text
    row = client.execute(ao.show_job(job_id))
    assert row is not None and row.state == "scheduled"
    assert row.job.run_at > datetime.now(UTC) + timedelta(minutes=29)

    r = web.post(
        "/actions/jobs",
        data={"csrf": token, "action": "fail", "id": str(job_id), "message": "bad data"},
    )
    assert f"Failed 1 job: {job_id}." in r.text
    row = client.execute(ao.show_job(job_id))
    assert row is not None and row.state == "failed" and row.job.last_error == "bad data"

    r = web.post("/actions/jobs", data={"csrf": token, "action": "remove", "id": str(job_id)})
    assert f"Deleted 1 job: {job_id}." in r.text
    assert state_of(client, job_id) is None

    r = web.post("/actions/jobs", data={"csrf": token, "action": "remove", "id": str(job_id)})
    assert "Deleted 0 jobs; not found or running, left alone: " in r.text


def test_acting_on_many_jobs_asks_for_confirmation_first(client: Client, web: TestClient) -> None:
    ids = [failed_job(client) for _ in range(3)]
    token = csrf(web)
    data = {"csrf": token, "action": "retry", "id": [str(i) for i in ids]}
    r = web.post("/actions/jobs", data=data)
    assert r.status_code == 200
    assert "Retry now (attempts reset): 3 jobs?" in r.text
    assert all(state_of(client, i) == "failed" for i in ids)  # nothing done yet
    r = web.post("/actions/jobs", data={**data, "confirm": "yes"})
    assert f"Retried 3 jobs: {', '.join(map(str, ids))}." in r.text
    assert all(state_of(client, i) == "waiting" for i in ids)


def test_retry_all_failed_of_a_task_and_clean(client: Client, web: TestClient) -> None:
    mine = [failed_job(client, "mine") for _ in range(3)]
    other = failed_job(client, "other")
    token = csrf(web, "/queues")
    r = web.post("/actions/failed", data={"csrf": token, "action": "retry", "task": "mine"})
    assert "Retry now (attempts reset) 3 failed jobs: the failed jobs of &#39;mine&#39;?" in r.text
    assert all(state_of(client, i) == "failed" for i in mine)
    max_id = re.search(r'name="max_id" value="(\d+)"', r.text)
    assert max_id is not None
    r = web.post(
        "/actions/failed",
        data={"csrf": token, "action": "retry", "task": "mine", "confirm": "yes",
              "max_id": max_id[1]},
    )  # fmt: skip
    assert "Retried 3 failed jobs" in r.text
    assert all(state_of(client, i) == "waiting" for i in mine)
    assert state_of(client, other) == "failed"

    # clean: only jobs that failed at least N minutes ago
    r = web.post(
        "/actions/failed",
        data={"csrf": token, "action": "clean", "task": "other", "older_than_minutes": "60"},
    )
    assert "No failed jobs match" in r.text
    r = web.post("/actions/failed", data={"csrf": token, "action": "clean", "task": "other"})
    max_id = re.search(r'name="max_id" value="(\d+)"', r.text)
    assert max_id is not None
    r = web.post(
        "/actions/failed",
        data={"csrf": token, "action": "clean", "task": "other", "confirm": "yes",
              "max_id": max_id[1]},
    )  # fmt: skip
    assert "Deleted 1 failed job" in r.text
    assert state_of(client, other) is None


def test_a_bulk_action_never_goes_past_what_was_confirmed(client: Client, web: TestClient) -> None:
    first = failed_job(client, "mine")
    token = csrf(web, "/queues")
    r = web.post("/actions/failed", data={"csrf": token, "action": "retry", "task": "mine"})
    max_id = re.search(r'name="max_id" value="(\d+)"', r.text)
    assert max_id is not None
    later = failed_job(client, "mine")  # failed after the confirmation was shown
    r = web.post(
        "/actions/failed",
        data={"csrf": token, "action": "retry", "task": "mine", "confirm": "yes",
              "max_id": max_id[1]},
    )  # fmt: skip
    assert "Retried 1 failed job" in r.text
    assert state_of(client, first) == "waiting" and state_of(client, later) == "failed"


def test_actions_need_the_csrf_token(client: Client, web: TestClient) -> None:
    job_id = failed_job(client)
    csrf(web)  # the cookie is set
    for data in (
        {"action": "retry", "id": str(job_id)},
        {"action": "retry", "id": str(job_id), "csrf": "0" * 64},
    ):
        r = web.post("/actions/jobs", data=data)
        assert r.status_code == 403 and "CSRF" in r.text
    # a token without its cookie (another browser's) is refused too
    token = csrf(web)
    web.cookies.clear()
    r = web.post("/actions/jobs", data={"csrf": token, "action": "retry", "id": str(job_id)})
    assert r.status_code == 403
    r = web.post("/actions/failed", data={"action": "retry"})
    assert r.status_code == 403
    assert state_of(client, job_id) == "failed"


def test_bad_action_input_is_refused(client: Client, web: TestClient) -> None:
    token = csrf(web)
    for data in (
        {"action": "retry"},
        {"action": "explode", "id": "1"},
        {"action": "retry", "id": "x"},
        {"action": "reschedule", "id": "1", "delay_minutes": "soon"},
    ):
        r = web.post("/actions/jobs", data={"csrf": token, **data})
        assert r.status_code == 400, data
    r = web.post("/actions/failed", data={"csrf": token, "action": "retry", "task": "a\x00b"})
    assert r.status_code == 400


def test_read_only_shows_no_action_and_refuses_them(client: Client) -> None:
    job_id = failed_job(client)
    with TestClient(create_app(client, read_only=True)) as t:
        for path in ["/jobs", f"/jobs/{job_id}", "/queues"]:
            html = t.get(path).text
            assert "read-only" in html
            assert 'method="post"' not in html, path
        r = t.post("/actions/jobs", data={"action": "retry", "id": str(job_id)})
        assert r.status_code == 403 and "read-only" in r.text
        r = t.post("/actions/failed", data={"action": "clean"})
        assert r.status_code == 403
    assert state_of(client, job_id) == "failed"


def test_pause_is_hidden_without_client_support(database_url: str, schema: str) -> None:
    class WithoutPause(Client):
        pause = None  # a version of the client that cannot pause

    with WithoutPause(database_url, schema=schema) as c:
        c.migrate()
        c.add_job("t", {}, queue_name="q1")
        with TestClient(create_app(c)) as t:
            html = t.get("/queues").text
            assert "q1" in html and "/actions/pause" not in html and "paused" not in html
            r = t.post("/actions/pause", data={"csrf": csrf(t), "kind": "queue", "name": "q1"})
            assert r.status_code == 404


# -- auth token and mounting ---------------------------------------------------------------


def test_auth_token(client: Client) -> None:
    with TestClient(create_app(client, auth_token="t0ken-123")) as t:
        r = t.get("/jobs", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert t.post("/actions/jobs", data={}).status_code == 401
        assert t.get("/static/dashboard.css").status_code == 200
        assert t.get("/login").status_code == 200
        assert t.post("/login", data={"token": "wrong"}).status_code == 401
        assert t.get("/", headers={"authorization": "Bearer t0ken-123"}).status_code == 200
        wrong = t.get("/", headers={"authorization": "Bearer nope"}, follow_redirects=False)
        assert wrong.status_code == 303
        r = t.post("/login", data={"token": "t0ken-123"}, follow_redirects=False)
        assert r.status_code == 303
        assert t.get("/jobs").status_code == 200
        assert "t0ken-123" not in t.get("/").text


def test_mounts_under_a_prefix_and_into_another_app(client: Client) -> None:
    job_id = failed_job(client)
    with TestClient(create_app(client, prefix="/queue")) as t:
        html = t.get("/queue/").text
        assert 'href="/queue/jobs"' in html and 'src="/queue/static/htmx.min.js"' in html
        assert t.get(f"/queue/jobs/{job_id}").status_code == 200
        token = csrf(t, "/queue/jobs")
        r = t.post("/queue/actions/jobs", data={"csrf": token, "action": "retry", "id": job_id})
        assert "Retried 1 job" in r.text
    outer = Starlette(routes=[Mount("/admin/jobs-ui", app=create_app(client))])
    with TestClient(outer) as t:
        html = t.get("/admin/jobs-ui/jobs").text
        assert f'href="/admin/jobs-ui/jobs/{job_id}"' in html
        assert t.get("/admin/jobs-ui/static/htmx.min.js").status_code == 200


# -- throughput history --------------------------------------------------------------------


async def test_workers_record_throughput_and_cleanup_prunes_it(
    database_url: str, schema: str, client: Client, web: TestClient
) -> None:
    for n in range(3):
        client.add_job("ok", {"n": n})
    client.add_job("bad", {}, max_attempts=1)

    async def ok(payload: Any, helpers: Any) -> None:
        return None

    async def bad(payload: Any, helpers: Any) -> None:
        raise RuntimeError("no")

    async with AsyncClient(database_url, schema=schema) as ac:
        worker = Worker(
            ac, {"ok": Task("ok", ok), "bad": Task("bad", bad)}, options=WorkerOptions()
        )
        assert await worker.run_once() == 4
    points = client.execute(ao.throughput(60))
    assert len(points) == 60
    assert (sum(p.completed for p in points), sum(p.failed for p in points)) == (3, 1)
    html = await asyncio.to_thread(lambda: web.get("/fragments/overview").text)
    assert "3 completed, 1 failed" in html
    assert "completed, 1 failed</title>" in html  # a bar with its tooltip
    assert client.execute(ao.prune_throughput(datetime.now(UTC) - timedelta(hours=1))) == 0
    assert client.execute(ao.prune_throughput(datetime.now(UTC) + timedelta(minutes=2))) >= 1
    assert sum(p.completed for p in client.execute(ao.throughput(60))) == 0


# -- the command -----------------------------------------------------------------------------


def test_dashboard_refuses_a_public_address_without_a_token(database_url: str) -> None:
    result = CliRunner().invoke(
        main,
        ["dashboard", "--host", "0.0.0.0", "--database-url", database_url],
        env={"TRIGGER_COMPAT_DASHBOARD_TOKEN": ""},
    )
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0 without an access token" in result.output


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    assert not is_loopback("::") and not is_loopback("example.com")


def test_pause_and_resume_a_queue_when_the_client_can(client: Client, web: TestClient) -> None:
    if not callable(getattr(client, "pause", None)):
        pytest.skip("this client cannot pause")
    client.add_job("t", {}, queue_name="q1")
    html = web.get("/queues").text
    assert 'value="pause"' in html
    token = csrf(web, "/queues")
    r = web.post(
        "/actions/pause", data={"csrf": token, "kind": "queue", "name": "q1", "action": "pause"}
    )
    assert "Paused queue &#39;q1&#39;." in r.text
    assert [(p.kind, p.name) for p in client.paused()] == [("queue", "q1")]  # type: ignore[attr-defined]
    html = web.get("/queues").text
    assert "paused</span>" in html and 'value="resume"' in html
    r = web.post(
        "/actions/pause", data={"csrf": token, "kind": "queue", "name": "q1", "action": "resume"}
    )
    assert "Resumed queue &#39;q1&#39;." in r.text
    assert client.paused() == []  # type: ignore[attr-defined]


def test_a_big_table_is_counted_from_a_sample(client: Client) -> None:
    for _ in range(4):
        client.add_job("big", {})
    client.add_job("big", {}, run_at=datetime.now(UTC) + timedelta(hours=1))
    failed_job(client, "big")
    with psycopg.connect(client.conninfo or "", autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("analyze {}.jobs").format(psycopg.sql.Identifier(client.schema))
        )
    assert client.execute(ao.jobs_estimate(client.schema)) == 6
    with TestClient(create_app(client, sample_above=0)) as t:
        html = t.get("/fragments/overview").text
        # 10,000 jobs' worth of sample is all of this table: the estimates are exact
        assert 'id="sampled"' in html and "100.0% sample" in html
        row = re.search(r'<td><a href="/jobs\?task=big">big</a></td>(.*?)</tr>', html, re.S)
        assert row is not None
        cells = re.findall(r'<td class="num[^"]*">(?:<a [^>]*>)?([^<]*)', row[1])
        assert cells[:5] == ["4", "1", "0", "0", "1"]
        assert 'id="sampled"' in t.get("/queues").text
    with TestClient(create_app(client)) as t:
        assert 'id="sampled"' not in t.get("/fragments/overview").text


async def test_the_cleanup_task_prunes_throughput_older_than_a_day(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    from trigger_compat.core.catalog import CleanupSettings
    from trigger_compat.runtime.scheduler import cleanup_handler

    db.execute(
        psycopg.sql.SQL(
            "insert into {}.job_stats (minute, worker_id, completed, failed) values "
            "(date_trunc('minute', now()) - interval '25 hours', 'w', 1, 0), "
            "(date_trunc('minute', now()) - interval '1 hour', 'w', 2, 0)"
        ).format(psycopg.sql.Identifier(schema))
    )
    settings = CleanupSettings.model_validate(
        {"frequencyExpression": "*/5 * * * *", "ttl": 3_600_000, "maxCount": 100}
    )
    handler = cleanup_handler(aclient, settings, None)
    await handler({"ts": datetime.now(UTC)}, None)  # type: ignore[arg-type]
    kept = db.execute(
        psycopg.sql.SQL("select completed from {}.job_stats").format(psycopg.sql.Identifier(schema))
    ).fetchall()
    assert kept == [(2,)]
