-- admin_status for a big jobs table, where its full pass is too slow for a page: waiting,
-- scheduled and retrying are estimated from a sample of %(percent)s percent of the table's
-- pages (scaled up; the oldest waiting run_at is the sample's), running and failed are
-- counted exactly, through the partial indexes of locked and of failed jobs. job_state
-- decides every state, as in admin_status.
select task_identifier,
       queue_name,
       sum(waiting)::bigint as waiting,
       sum(scheduled)::bigint as scheduled,
       sum(running)::bigint as running,
       sum(retrying)::bigint as retrying,
       sum(failed)::bigint as failed,
       min(oldest_waiting_run_at) as oldest_waiting_run_at,
       now() as db_now
  from (select task_identifier, queue_name,
               round(count(*) filter (where state = 'waiting') * 100.0 / %(percent)s::float8)
                   as waiting,
               round(count(*) filter (where state = 'scheduled') * 100.0 / %(percent)s::float8)
                   as scheduled,
               0 as running,
               round(count(*) filter (where state = 'retrying') * 100.0 / %(percent)s::float8)
                   as retrying,
               0 as failed,
               min(run_at) filter (where state = 'waiting') as oldest_waiting_run_at
          from (select task_identifier, queue_name, run_at,
                       {schema}.job_state(locked_at, attempts, max_attempts, run_at, now())
                           as state
                  from {schema}.jobs tablesample system (%(percent)s::float4)) as s
         group by task_identifier, queue_name
        union all
        select task_identifier, queue_name, 0, 0,
               count(*) filter (where state = 'running'), 0,
               count(*) filter (where state = 'failed'), null
          from (select task_identifier, queue_name,
                       {schema}.job_state(locked_at, attempts, max_attempts, run_at, now())
                           as state
                  from {schema}.jobs
                 where locked_at is not null
                    or (attempts >= max_attempts and locked_at is null)) as x
         group by task_identifier, queue_name) as counts
 group by task_identifier, queue_name
 order by task_identifier, queue_name nulls first
