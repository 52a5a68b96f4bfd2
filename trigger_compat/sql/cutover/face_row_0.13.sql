-- The job row of graphile-worker 0.13 (its table "jobs", columns in its order), which the face's
-- functions return in shape 0.13, and the one mapping from a trigger-compat job to it.
-- {face}: the face schema, {target}: the trigger-compat schema (quoted identifiers).
create type {face}.jobs as (
    id              bigint,
    queue_name      text,
    task_identifier text,
    payload         json,
    priority        integer,
    run_at          timestamptz,
    attempts        integer,
    max_attempts    integer,
    last_error      text,
    created_at      timestamptz,
    updated_at      timestamptz,
    key             text,
    locked_at       timestamptz,
    locked_by       text,
    revision        integer,
    flags           jsonb
);

create function {face}._job_row(j {target}.jobs) returns {face}.jobs
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
    select j.id, j.queue_name, j.task_identifier, j.payload::json, j.priority::integer,
           j.run_at, j.attempts::integer, j.max_attempts::integer, j.last_error, j.created_at,
           j.updated_at, j.key, j.locked_at, j.locked_by, j.revision, j.flags
$$;
