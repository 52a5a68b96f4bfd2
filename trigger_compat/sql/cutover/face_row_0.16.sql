-- The job row of graphile-worker 0.16 (its table "_private_jobs", columns in its order), which
-- the face's functions return in shape 0.16, and the one mapping from a trigger-compat job to
-- it. trigger-compat keeps task and queue names in the job row, so the two numbers graphile
-- stores instead are derived from the names, the same for every job of a task (or a queue):
--   task_id      = hashtext(task_identifier) & 2147483647
--   job_queue_id = hashtext(queue_name) & 2147483647, null for a job without a named queue.
-- {face}: the face schema, {target}: the trigger-compat schema (quoted identifiers).
create type {face}._private_jobs as (
    id           bigint,
    job_queue_id integer,
    task_id      integer,
    payload      json,
    priority     smallint,
    run_at       timestamptz,
    attempts     smallint,
    max_attempts smallint,
    last_error   text,
    created_at   timestamptz,
    updated_at   timestamptz,
    key          text,
    locked_at    timestamptz,
    locked_by    text,
    revision     integer,
    flags        jsonb,
    is_available boolean
);

create function {face}._job_row(j {target}.jobs) returns {face}._private_jobs
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
    select j.id, pg_catalog.hashtext(j.queue_name) & 2147483647,
           pg_catalog.hashtext(j.task_identifier) & 2147483647, j.payload::json, j.priority,
           j.run_at, j.attempts, j.max_attempts, j.last_error, j.created_at, j.updated_at,
           j.key, j.locked_at, j.locked_by, j.revision, j.flags, j.is_available
$$;
