-- reschedule_jobs: change run_at, priority, attempts or max_attempts of unlocked jobs (null =
-- unchanged).
create or replace function reschedule_jobs(
    job_ids      bigint[],
    run_at       timestamptz default null,
    priority     integer     default null,
    attempts     integer     default null,
    max_attempts integer     default null
) returns setof jobs
language sql volatile
set search_path from current
as $$
    update jobs
       set run_at = coalesce(reschedule_jobs.run_at, jobs.run_at),
           priority = coalesce(reschedule_jobs.priority, jobs.priority),
           attempts = coalesce(reschedule_jobs.attempts, jobs.attempts),
           max_attempts = coalesce(reschedule_jobs.max_attempts, jobs.max_attempts),
           updated_at = pg_catalog.now()
     where id = any(job_ids) and locked_at is null
    returning *
$$;
