-- remove_job: an unlocked job (waiting, retrying or failed) is deleted; a running one loses
-- its key and its remaining attempts. Returns the row, or nothing when the key is unknown.
create or replace function remove_job(job_key text) returns setof jobs
language plpgsql volatile
set search_path from current
as $$
#variable_conflict use_column
begin
    return query
        delete from jobs where key = remove_job.job_key and locked_at is null returning *;
    if found then
        return;
    end if;
    return query
        update jobs
           set key = null, attempts = jobs.max_attempts, updated_at = pg_catalog.now()
         where key = remove_job.job_key and locked_at is not null
        returning *;
end
$$;
