-- depends: retry_delay
-- fail_job: record the error, unlock, and schedule the retry: run_at = max(now, run_at) +
-- retry_delay(attempts) unless the caller gives run_at.
create or replace function fail_job(
    job_id        bigint,
    error_message text,
    worker_id     text        default null,
    run_at        timestamptz default null,
    now           timestamptz default null
) returns setof jobs
language sql volatile
set search_path from current
as $$
    update jobs
       set last_error = fail_job.error_message,
           run_at = coalesce(
               fail_job.run_at,
               greatest(coalesce(fail_job.now, pg_catalog.now()), jobs.run_at)
                   + retry_delay(jobs.attempts)),
           locked_at = null,
           locked_by = null,
           updated_at = pg_catalog.now()
     where id = fail_job.job_id
       and locked_at is not null
       and (fail_job.worker_id is null or locked_by = fail_job.worker_id)
    returning *
$$;
