-- complete_jobs: delete finished jobs (only those still locked by worker_id when given).
create or replace function complete_jobs(job_ids bigint[], worker_id text default null) returns setof bigint
language sql volatile
set search_path from current
as $$
    delete from jobs
     where id = any(job_ids)
       and (complete_jobs.worker_id is null or locked_by = complete_jobs.worker_id)
    returning id
$$;
