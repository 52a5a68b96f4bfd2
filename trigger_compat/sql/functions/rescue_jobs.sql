-- depends: notify_jobs
-- rescue_jobs: release the jobs of workers whose heartbeat is older than timeout (or that
-- never registered and locked the job longer ago than that), so another worker retries them
-- at once; the lost attempt counts. One caller at a time does the work (advisory lock);
-- the others return nothing. Workers are notified of the released jobs. A job cancelled
-- while it ran (cancel_jobs) keeps its reason as last_error and stays failed.
create or replace function rescue_jobs(timeout interval) returns setof jobs
language plpgsql volatile
set search_path from current
as $$
#variable_conflict use_column
declare
    v_cutoff timestamptz := pg_catalog.now() - rescue_jobs.timeout;
    v_count  integer;
begin
    if not pg_try_advisory_xact_lock({lock_class:rescue_jobs}, hashtext(current_schema())) then
        return;
    end if;
    return query
        update jobs j
           set locked_at = null,
               locked_by = null,
               run_at = greatest(j.run_at, pg_catalog.now()),
               -- a job cancelled while it ran keeps its cancel reason (it stays failed)
               last_error = coalesce(
                   (select c.reason from job_cancellations c
                     where c.job_id = j.id and c.worker_id = j.locked_by),
                   'worker ' || j.locked_by || ' was lost (no heartbeat for '
                   || rescue_jobs.timeout::text || ') while running this job'),
               updated_at = pg_catalog.now()
         where j.locked_at is not null
           and j.locked_by in (
               select w.worker_id from workers w where w.last_heartbeat_at < v_cutoff
               union all
               select distinct l.locked_by from jobs l
                where l.locked_at is not null and l.locked_at < v_cutoff
                  and not exists (select 1 from workers w2 where w2.worker_id = l.locked_by))
        returning j.*;
    get diagnostics v_count = row_count;
    -- the cancellations of the lost workers' jobs: nobody is left to read them
    delete from job_cancellations c
     where not exists (select 1 from jobs j where j.id = c.job_id and j.locked_by = c.worker_id);
    delete from workers w where w.last_heartbeat_at < v_cutoff;
    if v_count > 0 then
        perform notify_jobs(v_count);
    end if;
end
$$;
