-- depends: add_job
-- schedule_cron_jobs: claim the tick ts for each identifier (last_execution only moves
-- forward) and add one job for each identifier actually claimed, in the same transaction.
-- A second call for the same or an older tick adds nothing. Parallel arrays, one element
-- per recurring task; identifiers must be distinct. Rows are locked in identifier order so
-- that concurrent schedulers never deadlock.
create or replace function schedule_cron_jobs(
    ts            timestamptz,
    payload       jsonb,
    identifiers   text[],
    queue_names   text[],
    max_attempts  integer[],
    priorities    integer[],
    job_keys      text[],
    job_key_modes text[]
) returns setof jobs
language plpgsql volatile
set search_path from current
as $$
#variable_conflict use_column
declare
    v_claimed text[];
    v_item    record;
begin
    with claimed as (
        insert into known_crontabs as k (identifier, known_since, last_execution)
        select i, schedule_cron_jobs.ts, schedule_cron_jobs.ts
          from unnest(schedule_cron_jobs.identifiers) as i
         order by i
        on conflict (identifier) do update
           set last_execution = excluded.last_execution
         where k.last_execution is null or k.last_execution < excluded.last_execution
        returning k.identifier
    )
    select coalesce(array_agg(identifier), '{}') into v_claimed from claimed;

    for v_item in
        select s.*
          from unnest(schedule_cron_jobs.identifiers, schedule_cron_jobs.queue_names,
                      schedule_cron_jobs.max_attempts, schedule_cron_jobs.priorities,
                      schedule_cron_jobs.job_keys, schedule_cron_jobs.job_key_modes)
               with ordinality as s(identifier, queue_name, max_attempts, priority, job_key,
                                    job_key_mode, ord)
         where s.identifier = any (v_claimed)
         order by s.ord
    loop
        return next add_job(
            identifier   => v_item.identifier,
            payload      => schedule_cron_jobs.payload,
            queue_name   => v_item.queue_name,
            run_at       => schedule_cron_jobs.ts,
            max_attempts => v_item.max_attempts,
            job_key      => v_item.job_key,
            priority     => v_item.priority,
            job_key_mode => coalesce(v_item.job_key_mode, 'replace'));
    end loop;
end
$$;
