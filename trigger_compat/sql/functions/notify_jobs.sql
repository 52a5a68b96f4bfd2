-- notify_jobs: wake the workers listening on this schema's channel ('tc:' || schema, or 'tc:' || md5(schema)
-- when that would pass 63 bytes; trigger_compat.core.sqlfiles.notify_channel is its twin).
-- No "set search_path" here, so it is inlined into the functions that call it, which pin the
-- search_path (and so current_schema()) themselves.
create or replace function notify_jobs(job_count integer) returns void
language sql volatile
as $$
    select pg_notify(
        case when octet_length(current_schema()) <= 60
             then 'tc:' || current_schema()
             else 'tc:' || md5(current_schema()) end,
        job_count::text)
$$;
