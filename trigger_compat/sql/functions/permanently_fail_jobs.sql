-- permanently_fail_jobs: unlocked jobs use up their attempts (failed) with this error.
create or replace function permanently_fail_jobs(job_ids bigint[], error_message text default null)
returns setof jobs
language sql volatile
set search_path from current
as $$
    update jobs
       set last_error = coalesce(error_message, 'Manually marked as failed'),
           attempts = max_attempts,
           updated_at = pg_catalog.now()
     where id = any(job_ids) and locked_at is null
    returning *
$$;
