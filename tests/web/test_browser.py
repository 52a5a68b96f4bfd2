"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright for
Python): every page loads without a console error, a job is followed from the list to its
detail, a failed job is retried and a worker runs it, many jobs are acted on at once.

Skipped only when neither the Chromium binary nor the ``playwright`` package is there; with
one of them missing the tests fail, saying which (CI installs both). Set
``TRIGGER_COMPAT_SCREENSHOTS=docs/screenshots`` to keep a screenshot of each page there.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from trigger_compat import AsyncClient, Client
from trigger_compat.core import admin_ops as ao
from trigger_compat.core import worker_ops
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions

CHROMIUM = os.environ.get("TRIGGER_COMPAT_CHROMIUM", "/usr/bin/chromium")
HAS_CHROMIUM = Path(CHROMIUM).is_file()
HAS_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None
HAS_WEB = all(importlib.util.find_spec(m) is not None for m in ("starlette", "jinja2", "uvicorn"))

pytestmark = pytest.mark.skipif(
    not HAS_CHROMIUM and not HAS_PLAYWRIGHT,
    reason=f"no browser: neither {CHROMIUM} nor the playwright package is installed",
)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CATALOG = Path(__file__).resolve().parents[2] / "catalog.yaml"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not HAS_PLAYWRIGHT:
        pytest.fail("the playwright package is missing (pip install --group dev)")
    if not HAS_CHROMIUM:
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    if not HAS_WEB:
        pytest.fail("the web extra is missing (pip install -e '.[web]')")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def served(client: Client) -> Iterator[str]:
    """The dashboard of the test's schema on a free loopback port; its base URL."""
    import uvicorn

    from trigger_compat.web import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections wait in the backlog until the server accepts them
    port = sock.getsockname()[1]
    app = create_app(client, catalog=CATALOG)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    errors: list[str] = []
    p.on(
        "console",
        lambda m: (
            errors.append(f"{m.text} at {m.location.get('url')}") if m.type == "error" else None
        ),
    )
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.console_errors = errors
    yield p
    context.close()


def shoot(page: Any, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("TRIGGER_COMPAT_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def arrange(client: Client) -> dict[str, int]:
    """A queue with something in every state, a worker and a recurring task."""
    now = datetime.now(UTC)
    for n in range(3):
        client.add_job("deliverEvent", {"id": f"evt_{n}"}, queue_name="events")
    client.add_job("startRun", {"id": "run_1"}, run_at=now + timedelta(hours=1))
    hostile = client.add_job(
        "startRun", {"id": "<script>alert('x')</script>"}, job_key="<b>hostile</b>"
    )
    flaky = client.add_job("flaky", {"order": 42, "items": ["a", "b"]}, max_attempts=1)
    client.permanently_fail_jobs(
        [flaky.id], "TypeError: Cannot read properties of undefined\n    at handler (flaky.ts:7)"
    )
    others = [client.add_job("flaky", {"order": n}, max_attempts=1).id for n in range(2)]
    client.permanently_fail_jobs(others, "Error: upstream 503")
    client.execute(worker_ops.heartbeat("w-demo-1", "workerQueue", "web-1", 1234, None))
    with psycopg.connect(client.conninfo or "", autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL(
                "insert into {}.known_crontabs (identifier, known_since, last_execution) "
                "values ('scheduleImminentDeferredEvents', now() - interval '1 day', "
                "date_trunc('minute', now()) - interval '10 minutes')"
            ).format(psycopg.sql.Identifier(client.schema))
        )
    return {"flaky": flaky.id, "other1": others[0], "other2": others[1], "hostile": hostile.id}


def run_worker(database_url: str, schema: str, seen: list[Any]) -> int:
    async def flaky(payload: Any, job: Any) -> None:
        seen.append(payload)

    async def run() -> int:
        async with AsyncClient(database_url, schema=schema) as ac:
            worker = Worker(ac, {"flaky": Task("flaky", flaky)}, options=WorkerOptions())
            return await worker.run_once()

    # In a thread of its own: Playwright's sync API keeps an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def test_every_page_loads_without_console_errors(
    client: Client, served: str, page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    ids = arrange(client)
    with psycopg.connect(client.conninfo or "", autocommit=True) as conn:
        # an hour of throughput as two workers recorded it
        conn.execute(
            psycopg.sql.SQL(
                "insert into {}.job_stats (minute, worker_id, completed, failed) "
                "select date_trunc('minute', now()) - make_interval(mins => m), w, "
                "20 + (m * 7 + length(w)) % 15, (m % 9 = 0)::int * 3 "
                "from generate_series(0, 59) m, unnest(array['w-1', 'w-22']) w"
            ).format(psycopg.sql.Identifier(client.schema))
        )
    pages = [
        ("overview", "/", "Overview"),
        ("jobs", "/jobs", "Jobs"),
        ("queues", "/queues", "Queues and tasks"),
        ("recurring", "/recurring", "Recurring tasks"),
        ("workers", "/workers", "Workers"),
    ]
    for name, path, heading in pages:
        response = page.goto(served + path)
        assert response is not None and response.ok, path
        expect(page.locator("h1")).to_have_text(heading)
        shoot(page, name, tmp_path)
    # Hostile text is shown as text: no element was made of it.
    page.goto(served + "/jobs")
    expect(page.get_by_text("<b>hostile</b>")).to_be_visible()
    assert page.locator("table.jobs b").count() == 0
    page.get_by_role("link", name=str(ids["hostile"]), exact=True).click()
    expect(page.locator("#payload")).to_contain_text("<script>alert('x')</script>")
    assert page.locator("main script").count() == 0
    # The overview refreshes itself through htmx (served from the package).
    page.goto(served + "/")
    with page.expect_response(lambda r: "/fragments/overview" in r.url, timeout=15_000) as r:
        pass
    assert r.value.ok
    expect(page.locator("#overview svg.chart")).to_be_visible()
    expect(page.locator(".cards .card.state-failed .n")).to_have_text("3")
    assert page.console_errors == []


def test_follow_a_failed_job_retry_it_and_see_it_run(
    database_url: str, schema: str, client: Client, served: str, page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    ids = arrange(client)
    page.goto(served + "/jobs")
    page.select_option("select[name=state]", "failed")
    page.get_by_role("textbox", name="task").fill("flaky")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/jobs\?.*state=failed"))
    rows = page.locator("table.jobs tbody tr")
    expect(rows).to_have_count(3)
    page.locator(f'a.job-link:text-is("{ids["flaky"]}")').click()
    expect(page.locator("h1")).to_contain_text(f"Job {ids['flaky']}")
    expect(page.locator("#job-state")).to_have_text("failed")
    expect(page.locator("#last-error")).to_contain_text("at handler (flaky.ts:7)")
    expect(page.locator("#payload")).to_contain_text('"order": 42')
    shoot(page, "job", tmp_path)

    page.locator("#job-actions button.retry").click()
    expect(page.locator("#message")).to_have_text(f"Retried 1 job: {ids['flaky']}.")
    page.get_by_role("link", name="Back").click()
    expect(page.locator("#job-state")).to_have_text("waiting")
    expect(page.locator("#attempts")).to_have_text("0 of 1")

    seen: list[Any] = []
    assert run_worker(database_url, schema, seen) == 1
    assert seen == [{"order": 42, "items": ["a", "b"]}]
    # It ran and completed: a completed job leaves the table, and the chart counts it.
    gone = served + f"/jobs/{ids['flaky']}"
    response = page.goto(gone)
    assert response is not None and response.status == 404
    expect(page.locator("#message")).to_have_text(f"no job {ids['flaky']} in schema {schema}")
    # the browser logs the 404 of that page itself; nothing else may be logged
    page.console_errors[:] = [e for e in page.console_errors if not e.endswith(f" at {gone}")]
    page.goto(served + "/")
    expect(page.locator("#overview")).to_contain_text("1 completed, 0 failed")
    assert page.console_errors == []


def test_select_many_jobs_confirm_and_act(client: Client, served: str, page: Any) -> None:
    from playwright.sync_api import expect

    ids = arrange(client)
    page.goto(served + "/jobs?task=flaky&state=failed")
    page.locator("#select-all").check()
    expect(page.locator("input.pick:checked")).to_have_count(3)
    page.locator("#selection button.retry").click()
    expect(page.locator("#question")).to_have_text("Retry now (attempts reset): 3 jobs?")
    failed = client.execute(ao.jobs_page(ao.JobFilter(task="flaky", state="failed"), None, 10))
    assert len(failed) == 3  # nothing done before the confirmation
    page.locator("#confirm").click()
    done = ", ".join(str(ids[k]) for k in ("flaky", "other1", "other2"))
    expect(page.locator("#message")).to_have_text(f"Retried 3 jobs: {done}.")
    page.goto(served + "/jobs?task=flaky&state=failed")
    expect(page.locator("table.jobs tbody")).to_contain_text("no jobs match")
    assert page.console_errors == []
