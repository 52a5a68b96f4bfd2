-- force_unlock_workers: release every job these workers hold (they retry at their run_at).
create or replace function force_unlock_workers(worker_ids text[]) returns setof jobs
language sql volatile
set search_path from current
as $$
    update jobs
       set locked_at = null, locked_by = null, updated_at = pg_catalog.now()
     where locked_at is not null and locked_by = any(worker_ids)
    returning *
$$;
