"""The graphile-worker face (trigger_compat.cutover.face), driven from Node the way the
unmodified TypeScript producers drive graphile-worker: ZodWorker's enqueue and dequeue
statements verbatim, graphile-worker 0.13's and 0.16.6's own addJob and WorkerUtils
statements, through node-postgres (tests/graphile/face_driver.js, one process for the
module). Every row that comes back is checked against ZodWorker's job-row schema of its shape;
the job-key matrix through the face gives the rows Client.add_job gives; a Python worker runs
what the face enqueued; a producer role can call the face and nothing else; uninstall leaves
the trigger-compat schema as it was.

graphile-worker's makeWorkerUtils() runs its migrations on its schema before anything else (in
0.13 and 0.16), so it cannot be pointed at a face; graphile's addJob is used through the helper
WorkerUtils.addJob is made of, and the other WorkerUtils methods through their statements (see
face_driver.js). Neither version's WorkerUtils has removeJob.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from trigger_compat import AsyncClient, Client
from trigger_compat.cli import main
from trigger_compat.core.sqlfiles import notify_channel
from trigger_compat.cutover.face import (
    FUNCTIONS,
    face_info,
    install_face,
    uninstall_face,
)
from trigger_compat.errors import ConfigurationError, SchemaNotMigratedError
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions

HERE = Path(__file__).parent
NODE_MODULES = HERE / "node" / "node_modules"
SHAPES = ("0.13", "0.16")

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None, reason="node is not installed (the face is driven from Node)"
)


# -- the Node side ---------------------------------------------------------------------------


def node_url(database_url: str, user: str | None = None, password: str | None = None) -> str:
    """``database_url`` as a postgresql:// URL for node-postgres (optionally as another role)."""
    d = conninfo_to_dict(database_url)
    if user is None:
        user, password = str(d.get("user") or "postgres"), d.get("password")  # type: ignore[assignment]
    auth = quote(user, safe="") + (":" + quote(str(password), safe="") if password else "")
    host = quote(str(d.get("host") or "127.0.0.1"), safe="")
    return (
        f"postgresql://{auth}@{host}:{d.get('port') or 5432}/{quote(str(d.get('dbname') or user))}"
    )


class Driver:
    """face_driver.js: one JSON request per line, one answer per line."""

    def __init__(self, database_url: str) -> None:
        if not (NODE_MODULES / "pg").is_dir():
            pytest.fail(f"{NODE_MODULES} is missing: run `npm ci --prefix {HERE / 'node'}`")
        self.proc = subprocess.Popen(
            ["node", str(HERE / "face_driver.js")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={
                "PATH": str(Path(shutil.which("node") or "node").parent),
                "NODE_PATH": str(NODE_MODULES),
                "DATABASE_URL": node_url(database_url),
            },
        )

    def call(self, op: str, **request: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **request}, default=str) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"face_driver.js ended (exit code {self.proc.poll()})"
        answer: dict[str, Any] = json.loads(line, object_hook=_dates)
        return answer

    def ok(self, op: str, **request: Any) -> dict[str, Any]:
        answer = self.call(op, **request)
        assert answer["status"] == "ok", answer
        return answer

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write('{"op": "quit"}\n')
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _dates(obj: dict[str, Any]) -> Any:
    if set(obj) == {"$date"}:
        return datetime.fromisoformat(obj["$date"].replace("Z", "+00:00"))
    return obj


@pytest.fixture(scope="module")
def node(database_url: str) -> Iterator[Driver]:
    driver = Driver(database_url)
    yield driver
    driver.close()


def zw_add(
    node: Driver,
    face: str,
    shape: str,
    identifier: str,
    payload: Any = None,
    *,
    queue_name: str | None = None,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
    job_key: str | None = None,
    priority: int | None = None,
    flags: list[str] | None = None,
    job_key_mode: str | None = None,
    conn: str | None = None,
) -> dict[str, Any]:
    """ZodWorker's enqueue: its nine parameters as ZodWorker passes them (payload as JSON
    text, run_at as a timestamp, the rest "value || null")."""
    params = [
        identifier,
        json.dumps(payload),
        queue_name or None,
        run_at.isoformat() if run_at else None,
        max_attempts or None,
        job_key or None,
        priority or None,
        flags,
        job_key_mode or None,
    ]
    return node.ok("zw_add", schema=face, shape=shape, params=params, conn=conn)


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture()
def face(database_url: str, schema: str) -> Iterator[str]:
    """A face schema name next to the test's trigger-compat schema; dropped afterwards."""
    name = f"{schema}_face"
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(name)))


def jobs_of(db: psycopg.Connection[Any], schema: str) -> list[dict[str, Any]]:
    with db.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            sql.SQL("select * from {}.jobs order by id").format(sql.Identifier(schema))
        ).fetchall()


def task_number(db: psycopg.Connection[Any], name: str | None) -> int | None:
    row = db.execute("select pg_catalog.hashtext(%s) & 2147483647", (name,)).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def ms(value: datetime) -> datetime:
    """A timestamp at JavaScript's precision (node-postgres parses to milliseconds)."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def assert_row_is(
    db: psycopg.Connection[Any], parsed: dict[str, Any], stored: dict[str, Any], shape: str
) -> None:
    """The row ZodWorker parsed is the stored trigger-compat job, in the shape's columns."""
    assert parsed["id"] == str(stored["id"])
    for column in ("payload", "priority", "attempts", "max_attempts", "last_error", "key"):
        assert parsed[column] == stored[column], column
    for column in ("revision", "locked_by", "flags"):
        assert parsed[column] == stored[column], column
    for column in ("run_at", "created_at", "updated_at", "locked_at"):
        assert (parsed[column] and ms(parsed[column])) == (stored[column] and ms(stored[column])), (
            column
        )
    if shape == "0.13":
        assert parsed["task_identifier"] == stored["task_identifier"]
        assert parsed["queue_name"] == stored["queue_name"]
    else:
        assert parsed["task_id"] == task_number(db, stored["task_identifier"])
        assert parsed["job_queue_id"] == task_number(db, stored["queue_name"])


# -- ZodWorker's statements ------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_zodworker_enqueue_and_dequeue_through_the_face(
    node: Driver,
    client: Client,
    db: psycopg.Connection[Any],
    face: str,
    shape: str,
    database_url: str,
) -> None:
    install_face(db, face, target=client.schema, shape=shape)
    listener = psycopg.connect(database_url, autocommit=True)
    listener.execute(sql.SQL("listen {}").format(sql.Identifier(notify_channel(client.schema))))
    run_at = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)

    full = zw_add(
        node, face, shape, "deliver", {"to": "a", "n": [1, 2]},
        queue_name="mail", run_at=run_at, max_attempts=7, job_key="k-full", priority=-3,
        flags=["rl:org:1", "x"], job_key_mode="replace",
    )  # fmt: skip
    plain = zw_add(node, face, shape, "deliver", {"to": "b"}, flags=[])
    assert full["parse"]["ok"] and plain["parse"]["ok"], (full, plain)
    stored = {j["id"]: j for j in jobs_of(db, client.schema)}
    full_job = stored[int(full["parse"]["job"]["id"])]
    assert_row_is(db, full["parse"]["job"], full_job, shape)
    assert_row_is(db, plain["parse"]["job"], stored[int(plain["parse"]["job"]["id"])], shape)
    assert (full_job["task_identifier"], full_job["queue_name"], full_job["run_at"]) == (
        "deliver",
        "mail",
        run_at,
    )
    assert (full_job["max_attempts"], full_job["priority"], full_job["flags"]) == (
        7,
        -3,
        {"rl:org:1": True, "x": True},
    )
    plain_job = stored[int(plain["parse"]["job"]["id"])]
    assert (plain_job["flags"], plain_job["max_attempts"], plain_job["priority"]) == (None, 25, 0)
    # The workers were woken, once per job, on the trigger-compat schema's channel.
    woken = list(listener.notifies(timeout=5, stop_after=2))
    assert [n.payload for n in woken] == ["1", "1"]
    listener.close()

    # The same task and queue give the same numbers in shape 0.16.
    again = zw_add(node, face, shape, "deliver", {"to": "c"}, queue_name="mail")
    if shape == "0.16":
        assert again["parse"]["job"]["task_id"] == full["parse"]["job"]["task_id"]
        assert again["parse"]["job"]["job_queue_id"] == full["parse"]["job"]["job_queue_id"]
    # The other shape's parser rejects the rows: the shape must match the webapp's version.
    other = "0.16" if shape == "0.13" else "0.13"
    assert not node.ok("zw_add", schema=face, shape=other, params=["t", "{}"] + [None] * 7)[
        "parse"
    ]["ok"]

    # Bad input is refused as trigger-compat refuses it, and nothing is stored.
    count = len(jobs_of(db, client.schema))
    bad_mode = node.call(
        "zw_add", schema=face, shape=shape, params=["t", "{}", *[None] * 3, "k", None, None, "x"]
    )
    too_long = node.call("zw_add", schema=face, shape=shape, params=["t" * 129, *[None] * 8])
    assert (bad_mode["status"], bad_mode["code"]) == ("error", "22023")
    assert (too_long["status"], too_long["code"]) == ("error", "23514")  # a CHECK, as 0.14+
    assert len(jobs_of(db, client.schema)) == count

    # Dequeue: an unlocked job is deleted and returned.
    removed = node.ok("zw_remove", schema=face, shape=shape, jobKey="k-full")
    assert removed["parse"]["ok"]
    assert removed["parse"]["job"]["id"] == str(full_job["id"])
    assert full_job["id"] not in {j["id"] for j in jobs_of(db, client.schema)}
    # An unknown key: graphile's one row of nulls, which ZodWorker's parser rejects
    # (dequeue returns undefined).
    missing = node.ok("zw_remove", schema=face, shape=shape, jobKey="no-such-key")
    assert len(missing["rows"]) == 1
    assert set(missing["rows"][0].values()) == {None}
    assert not missing["parse"]["ok"]
    # A running job: it keeps running without its key and will not retry.
    running = client.add_job("deliver", {"to": "d"}, job_key="k-running")
    client.fetch_jobs("w-1", 10, task_identifiers=["deliver"])
    gone = node.ok("zw_remove", schema=face, shape=shape, jobKey="k-running")
    assert gone["parse"]["ok"]
    after = client.get_job(running.id)
    assert after is not None
    assert (after.key, after.attempts, after.max_attempts, after.locked_by) == (None, 25, 25, "w-1")
    assert gone["parse"]["job"]["key"] is None


# -- graphile-worker's own addJob and WorkerUtils --------------------------------------------


@pytest.mark.parametrize("version", SHAPES)
def test_graphile_worker_utils_through_the_face(
    node: Driver, client: Client, db: psycopg.Connection[Any], face: str, version: str
) -> None:
    install_face(db, face, target=client.schema, shape=version)
    run_at = datetime(2031, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    spec = {
        "queueName": "q",
        "runAt": run_at.isoformat(),
        "maxAttempts": 4,
        "jobKey": "g-1",
        "jobKeyMode": "preserve_run_at",
        "priority": 2,
        "flags": ["f"],
    }
    added = node.ok(
        "utils_add", version=version, schema=face, identifier="g", payload={"p": 1}, spec=spec
    )
    assert added["parse"]["ok"], added
    stored = jobs_of(db, client.schema)
    assert len(stored) == 1
    assert_row_is(db, added["parse"]["job"], stored[0], version)
    assert (stored[0]["queue_name"], stored[0]["run_at"], stored[0]["key"]) == ("q", run_at, "g-1")
    # preserve_run_at through graphile's addJob: the same key again keeps run_at.
    again = node.ok(
        "utils_add",
        version=version,
        schema=face,
        identifier="g",
        payload={"p": 2},
        spec={**spec, "runAt": (run_at + timedelta(days=1)).isoformat()},
    )
    assert again["parse"]["job"]["id"] == added["parse"]["job"]["id"]
    assert (again["parse"]["job"]["revision"], again["parse"]["job"]["payload"]) == (1, {"p": 2})
    assert ms(again["parse"]["job"]["run_at"]) == run_at

    plain = node.ok("utils_add", version=version, schema=face, identifier="h", payload={}, spec={})
    locked = client.add_job("held", {})
    client.fetch_jobs("w-9", 1, task_identifiers=["held"])
    ids = [int(added["parse"]["job"]["id"]), int(plain["parse"]["job"]["id"]), locked.id]

    def utils(method: str, *args: Any) -> dict[str, Any]:
        answer = node.ok("utils", version=version, schema=face, method=method, args=list(args))
        if answer["parse"] is not None:
            assert answer["parse"]["ok"], answer
        return answer

    when = datetime(2032, 1, 1, tzinfo=UTC)
    moved = utils("rescheduleJobs", ids, {"runAt": when.isoformat(), "priority": 9})
    assert sorted(int(r["id"]) for r in moved["rows"]) == ids[:2]  # the running one is left
    assert {(ms(r["run_at"]), r["priority"]) for r in moved["rows"]} == {(when, 9)}
    failed = utils("permanentlyFailJobs", ids[1:], "given up")
    assert [int(r["id"]) for r in failed["rows"]] == [ids[1]]
    assert (failed["rows"][0]["attempts"], failed["rows"][0]["last_error"]) == (25, "given up")
    done = utils("completeJobs", ids)
    assert sorted(int(r["id"]) for r in done["rows"]) == ids[:2]
    assert [j["id"] for j in jobs_of(db, client.schema)] == [locked.id]  # running: kept
    if version == "0.16":
        utils("forceUnlockWorkers", ["w-9"])
        after = client.get_job(locked.id)
        assert after is not None and after.locked_at is None and after.locked_by is None


def test_add_jobs_takes_graphile_job_specs(
    client: Client, db: psycopg.Connection[Any], face: str, database_url: str
) -> None:
    """graphile-worker 0.16's add_jobs(specs job_spec[], job_key_preserve_run_at): its JS
    helper only came with 0.17, so the statement is SQL here."""
    install_face(db, face, target=client.schema, shape="0.16")
    existing = client.add_job("old", [1], job_key="batch-1", run_at=T_OLD)
    listener = psycopg.connect(database_url, autocommit=True)
    listener.execute(sql.SQL("listen {}").format(sql.Identifier(notify_channel(client.schema))))
    with db.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = cur.execute(
            sql.SQL(
                "select * from {f}.add_jobs(array[row('new', '[2]', null, %(t)s, null, 'batch-1',"
                " null, null)::{f}.job_spec, row('other', '{{\"a\": 1}}', 'q', null, 3, null, -2,"
                " array['x'])::{f}.job_spec], job_key_preserve_run_at => true)"
            ).format(f=sql.Identifier(face)),
            {"t": T_NEW},
        ).fetchall()
    assert [r["id"] == existing.id for r in rows] == [True, False]
    kept, other = rows
    assert (kept["payload"], kept["run_at"], kept["revision"]) == ([1, 2], T_OLD, 1)
    assert kept["task_id"] == task_number(db, "new")
    assert (other["job_queue_id"], other["max_attempts"], other["priority"], other["flags"]) == (
        task_number(db, "q"),
        3,
        -2,
        {"x": True},
    )
    assert [n.payload for n in listener.notifies(timeout=5, stop_after=1)] == ["2"]
    listener.close()
    stored = {j["id"]: j for j in jobs_of(db, client.schema)}
    assert stored[other["id"]]["task_identifier"] == "other"
    assert stored[other["id"]]["queue_name"] == "q"


# -- the job-key matrix: the face gives Client.add_job's rows ---------------------------------

MODES = ("replace", "preserve_run_at", "unsafe_dedupe")
EXISTING = ("none", "available", "retrying", "locked", "failed")
T_OLD = datetime(2029, 1, 1, 0, 0, 0, 111000, tzinfo=UTC)
T_NEW = datetime(2029, 6, 1, 0, 0, 0, 222000, tzinfo=UTC)
T_RETRY = datetime(2029, 3, 1, tzinfo=UTC)
T_LOCK = datetime(2028, 12, 31, 23, 0, tzinfo=UTC)


def _arrange(client: Client, db: psycopg.Connection[Any], key: str, existing: str) -> int | None:
    if existing == "none":
        return None
    job = client.add_job(
        "old", [1], queue_name="q1", run_at=T_OLD, max_attempts=3, job_key=key, priority=5,
        flags=["a"],
    )  # fmt: skip
    change = {
        "available": "",
        "retrying": "attempts = 1, last_error = 'boom', run_at = %(retry)s",
        "locked": "attempts = 1, locked_at = %(lock)s, locked_by = 'w-old'",
        "failed": "attempts = max_attempts, last_error = 'dead'",
    }[existing]
    if change:
        db.execute(
            sql.SQL("update {}.jobs set " + change + " where id = %(id)s").format(
                sql.Identifier(client.schema)
            ),
            {"retry": T_RETRY, "lock": T_LOCK, "id": job.id},
        )
    return job.id


def _comparable(row: dict[str, Any], prefix: str) -> dict[str, Any]:
    kept = {
        k: v
        for k, v in row.items()
        if k not in ("id", "created_at", "updated_at", "trace_context", "is_available")
    }
    kept["key"] = row["key"] and row["key"].removeprefix(prefix)
    return kept


@pytest.mark.parametrize("shape", SHAPES)
def test_job_key_matrix_matches_client_add_job(
    node: Driver, client: Client, db: psycopg.Connection[Any], face: str, shape: str
) -> None:
    install_face(db, face, target=client.schema, shape=shape)
    cases = [(None, "none")] + [(m, e) for m in MODES for e in EXISTING]
    seen: dict[tuple[str | None, str], dict[str, Any]] = {}
    for mode, existing in cases:
        outcome: dict[str, Any] = {}
        for side in ("client", "face"):
            prefix = f"{side}:"
            key = f"{prefix}{mode}:{existing}" if mode else None
            old_id = _arrange(client, db, key, existing) if key else None
            options: dict[str, Any] = {"run_at": T_NEW, "job_key": key, "job_key_mode": mode}
            if side == "client":
                returned = client.add_job("new", [2], **options).model_dump(mode="json")
                returned_id = returned["id"]
            else:
                answer = zw_add(node, face, shape, "new", [2], **options)
                assert answer["parse"]["ok"], (mode, existing, answer)
                returned = answer["parse"]["job"]
                returned_id = int(returned["id"])
            rows = [j for j in jobs_of(db, client.schema) if j["id"] in (old_id, returned_id)]
            outcome[side] = {
                "rows": [_comparable(r, prefix) for r in rows],
                "returned_is_old": returned_id == old_id,
                "returned": (returned["revision"], returned["attempts"], returned["payload"]),
            }
        assert outcome["face"] == outcome["client"], (mode, existing)
        seen[(mode, existing)] = outcome["face"]
    # A few cells of graphile-worker 0.16's table (semantics §3.3), so the comparison above is
    # known to cover the cases that differ.
    new = [r for r in seen[("replace", "available")]["rows"] if r["task_identifier"] == "new"]
    assert seen[("replace", "available")]["returned_is_old"]
    assert (new[0]["payload"], new[0]["revision"], new[0]["run_at"]) == ([1, 2], 1, T_NEW)
    assert seen[("preserve_run_at", "available")]["rows"][0]["run_at"] == T_OLD
    assert seen[("preserve_run_at", "retrying")]["rows"][0]["run_at"] == T_NEW
    for existing in ("locked", "failed"):
        old, added = seen[("replace", existing)]["rows"]
        assert not seen[("replace", existing)]["returned_is_old"]
        assert (old["key"], old["attempts"], added["key"]) == (None, 3, f"replace:{existing}")
    for existing in ("available", "retrying", "locked", "failed"):
        (kept,) = seen[("unsafe_dedupe", existing)]["rows"]
        assert seen[("unsafe_dedupe", existing)]["returned_is_old"]
        assert (kept["task_identifier"], kept["payload"], kept["revision"]) == ("old", [1], 1)


# -- a Python worker runs what the face enqueued ---------------------------------------------


async def test_python_worker_runs_jobs_enqueued_through_the_face(
    node: Driver, aclient: AsyncClient, db: psycopg.Connection[Any], face: str
) -> None:
    faces = {shape: f"{face}_{shape.replace('.', '_')}" for shape in SHAPES}
    try:
        for shape, name in faces.items():
            install_face(db, name, target=aclient.schema, shape=shape)
            zw_add(node, name, shape, "greet", {"who": shape})
            zw_add(node, name, shape, "greet", {"who": f"{shape}-q"}, queue_name="serial")
            zw_add(node, name, shape, "greet", {"who": f"{shape}-k"}, job_key=f"k-{shape}")
        node.ok(
            "utils_add", version="0.16", schema=faces["0.16"], identifier="greet",
            payload={"who": "utils"}, spec={},
        )  # fmt: skip
        seen: list[str] = []

        async def greet(payload: Any, job: Any) -> None:
            seen.append(payload["who"])

        worker = Worker(
            aclient, {"greet": Task("greet", greet)}, options=WorkerOptions(concurrency=2)
        )
        assert await worker.run_once() == 7
        assert sorted(seen) == sorted(
            ["0.13", "0.13-q", "0.13-k", "0.16", "0.16-q", "0.16-k", "utils"]
        )
        assert jobs_of(db, aclient.schema) == []
    finally:
        for name in faces.values():
            uninstall_face(db, name)


# -- grants: a producer role calls the face and nothing else ---------------------------------


def test_producer_role_can_call_the_face_and_nothing_else(
    node: Driver, client: Client, db: psycopg.Connection[Any], face: str, database_url: str
) -> None:
    role = f"producer_{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex
    db.execute(
        sql.SQL("create role {} login password {}").format(
            sql.Identifier(role), sql.Literal(password)
        )
    )
    try:
        done = install_face(db, face, target=client.schema, shape="0.16", grant_to=role)
        assert done.granted == (role,)
        as_producer = node_url(database_url, user=role, password=password)
        added = zw_add(node, face, "0.16", "t", {"a": 1}, job_key="p-1", conn=as_producer)
        assert added["parse"]["ok"], added
        assert node.ok("zw_remove", schema=face, shape="0.16", jobKey="p-1", conn=as_producer)[
            "parse"
        ]["ok"]
        target = sql.Identifier(client.schema)
        forbidden = [
            sql.SQL("select * from {}.jobs").format(target),
            sql.SQL("delete from {}.jobs").format(target),
            sql.SQL("select * from {}.add_job('t')").format(target),
            sql.SQL("select * from {}._job_row(null)").format(sql.Identifier(face)),
        ]
        conninfo = psycopg.conninfo.make_conninfo(database_url, user=role, password=password)
        with psycopg.connect(conninfo, autocommit=True) as producer:
            for statement in forbidden:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    producer.execute(statement)
        # Replacing the face (another shape) keeps its grants.
        again = install_face(db, face, target=client.schema, shape="0.13")
        assert again.changed and again.granted == (role,)
        assert zw_add(node, face, "0.13", "t", {}, conn=as_producer)["parse"]["ok"]
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(face)))
            conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


# -- install and uninstall -------------------------------------------------------------------


def _functions(db: psycopg.Connection[Any], schema: str) -> list[str]:
    rows = db.execute(
        "select p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'"
        " from pg_catalog.pg_proc p"
        " where p.pronamespace = to_regnamespace(%s) order by 1",
        (sql.Identifier(schema).as_string(None),),
    ).fetchall()
    return [r[0] for r in rows]


def test_install_is_idempotent_and_uninstall_drops_only_the_face(
    client: Client, db: psycopg.Connection[Any], face: str
) -> None:
    before = _functions(db, client.schema)
    job = client.add_job("t", {"keep": True}, job_key="keep")
    first = install_face(db, face, target=client.schema, shape="0.13")
    assert first.changed
    assert not install_face(db, face, target=client.schema, shape="0.13").changed
    info = face_info(db, face)
    assert info is not None and (info.target, info.shape) == (client.schema, "0.13")
    names = {f.partition("(")[0] for f in _functions(db, face)}
    assert names == {f.partition("(")[0] for f in FUNCTIONS} | {"_job_row"}

    # Refused, nothing changed: the trigger-compat schema itself, a schema that is not a
    # face, a schema that is not migrated, a shape that does not exist.
    with pytest.raises(ConfigurationError, match="face schema"):
        install_face(db, client.schema, target=client.schema)
    other = f"{face}_other"
    db.execute(sql.SQL("create schema {}").format(sql.Identifier(other)))
    db.execute(sql.SQL("create table {}.t (x int)").format(sql.Identifier(other)))
    try:
        with pytest.raises(ConfigurationError, match="not a graphile face"):
            install_face(db, other, target=client.schema)
        assert uninstall_face(db, other) is None
        assert db.execute("select to_regclass(%s)", (f"{other}.t",)).fetchone() != (None,)
    finally:
        db.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(other)))
    with pytest.raises(SchemaNotMigratedError, match="trigger-compat migrate"):
        install_face(db, f"{face}_x", target=f"{client.schema}_missing")
    assert db.execute("select to_regnamespace(%s)", (f"{face}_x",)).fetchone() == (None,)
    with pytest.raises(ConfigurationError, match="shape"):
        install_face(db, face, target=client.schema, shape="0.17")
    assert face_info(db, face) == info

    dropped = uninstall_face(db, face)
    assert dropped == info
    assert db.execute("select to_regnamespace(%s)", (face,)).fetchone() == (None,)
    assert uninstall_face(db, face) is None
    assert _functions(db, client.schema) == before
    kept = client.get_job(job.id)
    assert kept is not None and kept.payload == {"keep": True}
    assert client.add_job("t", {}).id > job.id


def test_cli_face_install_and_uninstall(
    client: Client, db: psycopg.Connection[Any], face: str, database_url: str
) -> None:
    env = {"DATABASE_URL": database_url, "TRIGGER_COMPAT_SCHEMA": client.schema}
    run = CliRunner().invoke
    result = run(
        main, ["graphile", "face", "install", "--schema", face, "--shape", "0.13"], env=env
    )
    assert result.exit_code == 0, result.output
    assert f"graphile face {face} (shape 0.13) installed" in result.output
    result = run(
        main, ["graphile", "face", "install", "--schema", face, "--shape", "0.13"], env=env
    )
    assert result.exit_code == 0 and "unchanged" in result.output
    result = run(
        main,
        ["graphile", "face", "install", "--schema", face, "--grant-to", "no_such_role_x"],
        env=env,
    )
    assert result.exit_code == 2 and "role 'no_such_role_x' does not exist" in result.output
    assert face_info(db, face) is not None and face_info(db, face).shape == "0.13"  # type: ignore[union-attr]
    result = run(
        main,
        ["graphile", "face", "install", "--schema", f"{face}_2"],
        env={**env, "TRIGGER_COMPAT_SCHEMA": f"{client.schema}_missing"},
    )
    assert result.exit_code == 4 and "trigger-compat migrate" in result.output
    result = run(main, ["graphile", "face", "uninstall", "--schema", face], env=env)
    assert result.exit_code == 0, result.output
    result = run(main, ["graphile", "face", "uninstall", "--schema", face], env=env)
    assert result.exit_code == 1 and "not a graphile face" in result.output


# -- the webapp's start-up migration check, and graphile-worker's migrations ------------------


def _face_objects(db: psycopg.Connection[Any], schema: str) -> list[tuple[str, str]]:
    """Every object of ``schema`` with its definition (functions, types, relations)."""
    rows = db.execute(
        "select pg_describe_object(d.classid, d.objid, 0),"
        "       coalesce(pg_get_functiondef(p.oid), pg_get_viewdef(c.oid), '')"
        "  from pg_depend d"
        "  left join pg_proc p on d.classid = 'pg_proc'::regclass and p.oid = d.objid"
        "  left join pg_class c on d.classid = 'pg_class'::regclass and c.oid = d.objid"
        " where d.refclassid = 'pg_namespace'::regclass and d.deptype = 'n'"
        "   and d.refobjid = to_regnamespace(%s) order by 1",
        (sql.Identifier(schema).as_string(None),),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


@pytest.fixture()
def producer(db: psycopg.Connection[Any]) -> Iterator[tuple[str, str]]:
    """A login role (name, password) of the kind a face is granted to; dropped afterwards."""
    role, password = f"producer_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    db.execute(
        sql.SQL("create role {} login password {}").format(
            sql.Identifier(role), sql.Literal(password)
        )
    )
    yield role, password
    db.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
    db.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


@pytest.mark.parametrize("shape", SHAPES)
def test_webapp_migration_check_meets_a_quiet_face(
    node: Driver,
    client: Client,
    db: psycopg.Connection[Any],
    face: str,
    database_url: str,
    producer: tuple[str, str],
    shape: str,
) -> None:
    """trigger.dev's GraphileMigrationHelperService (every start of a 0.16-era webapp) and the
    graphile-worker runMigrations it calls next, as the producer role and as the superuser
    (workers disabled or not): the face reports every migration applied, so nothing is
    notified, migrated, logged or changed."""
    role, password = producer
    install_face(db, face, target=client.schema, shape=shape, grant_to=role)
    before = _face_objects(db, face)
    as_producer = node_url(database_url, user=role, password=password)
    for url in (as_producer, None):
        helper = node.ok("migration_helper", schema=face, conn=url)
        assert (helper["schemaCount"], helper["latestMigration"], helper["action"]) == (
            1,
            18,
            "none",
        )
        for version in SHAPES:
            ran = node.ok("run_migrations", version=version, schema=face, conn=url)
            assert ran["logs"] == [], ran
    assert _face_objects(db, face) == before
    assert db.execute(
        sql.SQL(
            "select count(*), max(id), array_agg(id order by id) filter (where breaking)"
            " from {}.migrations"
        ).format(sql.Identifier(face))
    ).fetchone() == (18, 18, [1, 3, 11, 13, 14, 16])
    # Nobody can record a migration in it: not the producer, not the owner (a later
    # graphile-worker's migration 19 would fail on its first statement, before any other).
    insert = sql.SQL("insert into {}.migrations (id, breaking) values (19, false)").format(
        sql.Identifier(face)
    )
    conninfo = psycopg.conninfo.make_conninfo(database_url, user=role, password=password)
    with psycopg.connect(conninfo, autocommit=True) as as_role:
        for conn in (as_role, db):
            with (
                pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="cannot insert"),
                conn.transaction(),
            ):
                conn.execute(insert)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            as_role.execute(sql.SQL("create table {}.jobs (id int)").format(sql.Identifier(face)))
    assert _face_objects(db, face) == before


def test_install_refuses_a_face_graphile_migrated(
    node: Driver, client: Client, db: psycopg.Connection[Any], face: str, database_url: str
) -> None:
    """A face made before it had its migrations view, on which graphile-worker 0.16.6's
    runMigrations ran as the superuser: migration 1 committed graphile's tables and functions
    into it. install refuses it, naming the fix, and changes nothing; uninstall then install
    gives a clean face; a face missing one of its own objects is made again."""
    install_face(db, face, target=client.schema, shape="0.16")
    clean = _face_objects(db, face)
    face_id = sql.Identifier(face)
    db.execute(sql.SQL("drop view {}.migrations").format(face_id))
    failed = node.call("run_migrations", version="0.16", schema=face)
    assert failed["status"] == "error", failed
    assert "already exists" in failed["error"]  # migration 2 (migration 1 was committed)
    tables = db.execute(
        "select array_agg(relname::text order by relname) from pg_class"
        " where relnamespace = to_regnamespace(%s) and relkind = 'r'",
        (face_id.as_string(None),),
    ).fetchone()
    assert tables == (["job_queues", "jobs", "migrations"],)
    migrated = _face_objects(db, face)

    for shape in ("0.16", "0.13"):  # the same face again, or a replacement
        with pytest.raises(ConfigurationError, match="face uninstall") as refused:
            install_face(db, face, target=client.schema, shape=shape)
        assert "\n" not in str(refused.value)
        assert f"(table {face}.job_queues, table {face}.jobs, " in str(refused.value)
        assert _face_objects(db, face) == migrated
    result = CliRunner().invoke(
        main,
        ["graphile", "face", "install", "--schema", face],
        env={"DATABASE_URL": database_url, "TRIGGER_COMPAT_SCHEMA": client.schema},
    )
    assert result.exit_code == 2, result.output
    assert f"trigger-compat graphile face uninstall --schema {face}" in result.output

    assert uninstall_face(db, face) is not None
    assert install_face(db, face, target=client.schema, shape="0.16").changed
    assert _face_objects(db, face) == clean

    # One of the face's own objects gone: made again (not "unchanged").
    db.execute(sql.SQL("drop function {}.remove_job(text)").format(face_id))
    assert install_face(db, face, target=client.schema, shape="0.16").changed
    assert _face_objects(db, face) == clean
    assert not install_face(db, face, target=client.schema, shape="0.16").changed
