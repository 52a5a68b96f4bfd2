-- cancel_jobs: fail jobs for good now, waiting and running ones alike (attempts =
-- max_attempts, last_error = reason), so that none of them runs or retries again. A running
-- job stays locked by its worker, which is told: a row in job_cancellations and a
-- notification 'cancel:<id>,<id>,...' (300 ids at most per notification, well under
-- NOTIFY's 8000 bytes) on the schema's channel (the channel of notify_jobs); its outcome is
-- then written as this failure by settle_jobs. Jobs already failed for good (and not
-- running) are left as they are. Returns the jobs cancelled.
create or replace function cancel_jobs(job_ids bigint[], reason text)
returns setof jobs
language plpgsql volatile
set search_path from current
as $$
#variable_conflict use_column
declare
    v_channel text := case when octet_length(current_schema()) <= 60
                           then 'tc:' || current_schema()
                           else 'tc:' || md5(current_schema()) end;
    v_running bigint[];
    v_chunk   integer := 300;
begin
    delete from job_cancellations c
     where not exists (select 1 from jobs j where j.id = c.job_id and j.locked_by = c.worker_id);

    return query
    with cancelled as (
        update jobs j
           set last_error = cancel_jobs.reason,
               attempts = j.max_attempts,
               updated_at = pg_catalog.now()
         where j.id = any(cancel_jobs.job_ids)
           and (j.attempts < j.max_attempts or j.locked_at is not null)
        returning j.*
    ),
    marked as (
        insert into job_cancellations (job_id, worker_id, reason)
        select c.id, c.locked_by, cancel_jobs.reason from cancelled c where c.locked_by is not null
        on conflict (job_id) do update
           set worker_id = excluded.worker_id, reason = excluded.reason,
               requested_at = excluded.requested_at
        returning job_id
    )
    select c.* from cancelled c left join marked m on m.job_id = c.id order by c.id;

    select array_agg(c.job_id order by c.job_id) into v_running
      from job_cancellations c where c.job_id = any(cancel_jobs.job_ids);
    if v_running is not null then
        for i in 0 .. (cardinality(v_running) - 1) / v_chunk loop
            perform pg_notify(v_channel, 'cancel:' || array_to_string(
                v_running[i * v_chunk + 1 : (i + 1) * v_chunk], ','));
        end loop;
    end if;
end
$$;
