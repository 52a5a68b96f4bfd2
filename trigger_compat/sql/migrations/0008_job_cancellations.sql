-- Cancelling a running job (functions/cancel_jobs.sql). cancel_jobs fails the job for good at
-- once (attempts = max_attempts) and, while a worker still holds it, records here which
-- worker must be told: that worker learns it from a notification ('cancel:<ids>' on the
-- schema's channel) or, failing that, from its next heartbeat, and settle_jobs turns whatever
-- outcome the worker then writes for the job into that failure (never a retry, never a
-- deletion). A row whose job is no longer held by that worker is stale: settle_jobs deletes
-- the rows of the jobs it settles, cancel_jobs the stale ones. No foreign key: completing a
-- job (the hot path) pays nothing for this table.
--
-- Runs with search_path set to the target schema (then pg_temp).
create table job_cancellations (
    job_id       bigint      primary key,
    worker_id    text        not null,
    reason       text        not null,
    requested_at timestamptz not null default now()
);
