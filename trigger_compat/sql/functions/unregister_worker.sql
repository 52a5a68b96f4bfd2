-- depends: notify_jobs
-- A worker that stops cleanly removes its row; anything it still holds is released for an
-- immediate retry (its attempt counts).
create or replace function unregister_worker(worker_id text) returns integer
language plpgsql volatile
set search_path from current
as $$
#variable_conflict use_column
declare
    v_count integer;
begin
    update jobs
       set locked_at = null, locked_by = null, run_at = greatest(run_at, pg_catalog.now()),
           last_error = coalesce(last_error, 'worker stopped before the job finished'),
           updated_at = pg_catalog.now()
     where locked_at is not null and locked_by = unregister_worker.worker_id;
    get diagnostics v_count = row_count;
    delete from workers where worker_id = unregister_worker.worker_id;
    if v_count > 0 then
        perform notify_jobs(v_count);
    end if;
    return v_count;
end
$$;
