-- The baseline: every table, index and type of the queue, as versions 1 to 6 of the
-- pre-release migrations left them (see trigger_compat.core.migrations). The functions are
-- not here: each lives in sql/functions/<name>.sql and is applied by migrate() after the
-- migrations.
--
-- Runs with search_path set to the target schema (then pg_temp).

-- The jobs. A job is available (is_available) while no worker holds it and it has attempts
-- left; what state it is in for people is job_state() (functions/job_state.sql).
create table jobs (
    id              bigint generated always as identity primary key,
    task_identifier text        not null
        constraint jobs_task_identifier_check check (length(task_identifier) between 1 and 128),
    queue_name      text
        constraint jobs_queue_name_check check (length(queue_name) between 1 and 128),
    payload         jsonb       not null default '{}'::jsonb,
    priority        smallint    not null default 0,
    run_at          timestamptz not null default now(),
    attempts        smallint    not null default 0,
    max_attempts    smallint    not null default 25
        constraint jobs_max_attempts_check check (max_attempts >= 1),
    last_error      text,
    key             text
        constraint jobs_key_check check (length(key) between 1 and 512),
    revision        integer     not null default 0,
    flags           jsonb,
    locked_at       timestamptz,
    locked_by       text,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    is_available    boolean generated always as (locked_at is null and attempts < max_attempts) stored,
    constraint jobs_key_key unique (key)
);

-- Fetch path for jobs without a named queue, per task: a fetch reads only the tasks the
-- worker runs, each in priority, run_at, id order (a backlog of a task no running worker
-- handles costs the other workers nothing). Also the index of fetch_jobs' skip scan over the
-- tasks that have available jobs.
create index jobs_task_fetch_idx on jobs (task_identifier, priority, run_at, id)
    where is_available and queue_name is null;
-- Fetch path for named queues: the head of each queue.
create index jobs_queue_fetch_idx on jobs (queue_name, priority, run_at, id)
    where is_available and queue_name is not null;
-- The named queues with a job ready now: fetch_jobs finds them by a skip scan (the first
-- entry of a queue holds its earliest run_at), so a queue whose jobs are all done, running
-- or failed costs nothing, and jobs scheduled later are never read.
create index jobs_queue_ready_idx on jobs (queue_name, run_at)
    where is_available and queue_name is not null;
-- Running jobs per queue (the concurrency check) and per worker (unlock, rescue).
create index jobs_queue_running_idx on jobs (queue_name)
    where locked_at is not null and queue_name is not null;
create index jobs_locked_by_idx on jobs (locked_by) where locked_at is not null;
-- Permanently failed, unlocked jobs by run_at: what __cleanupOldJobs deletes. New jobs
-- (attempts = 0) never enter this index, so adding jobs does not pay for it.
create index jobs_failed_idx on jobs (run_at) where attempts >= max_attempts and locked_at is null;

-- One row per named queue ever used; concurrency = how many of its jobs may run at once
-- across all workers (1 = serial, the graphile-worker behaviour).
create table job_queues (
    queue_name  text primary key
        constraint job_queues_queue_name_check check (length(queue_name) between 1 and 128),
    concurrency integer not null default 1
        constraint job_queues_concurrency_check check (concurrency >= 1)
);

-- One row per running worker process; last_heartbeat_at is refreshed every few seconds.
create table workers (
    worker_id         text primary key,
    name              text        not null,
    hostname          text,
    pid               integer,
    task_identifiers  text[],
    started_at        timestamptz not null default now(),
    last_heartbeat_at timestamptz not null default now()
);

-- Recurring tasks: which cron identifiers are known and the last tick each one scheduled,
-- so that every tick is scheduled exactly once whatever the number of worker processes.
create table known_crontabs (
    identifier     text        primary key
        constraint known_crontabs_identifier_check check (length(identifier) between 1 and 128),
    known_since    timestamptz not null,
    last_execution timestamptz
);

-- A job fetch_jobs may lock, before the best max_jobs of all tasks and queues are kept.
create type fetch_candidate as (priority smallint, run_at timestamptz, id bigint);
