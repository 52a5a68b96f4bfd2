-- admin_status for a big jobs table, without a pass over it (`status` above its
-- --exact-below threshold). Exact: running jobs (through jobs_locked_by_idx, as many as the
-- workers hold) and failed jobs while there are at most %(failed_cap)s of them (through
-- jobs_failed_idx; the count of that check stops at %(failed_cap)s + 1). Estimated: waiting,
-- scheduled and retrying jobs, failed ones above the cap, and the oldest waiting run_at, from a
-- sample of %(percent)s percent of the table's pages (TABLESAMPLE SYSTEM), each state's share
-- of the sample times %(rows)s, the planner's number of jobs (admin_status_size.sql); a 100
-- percent sample is the table itself, counted as it is.
-- failed_exact says which way the failed figures came. job_state decides every state, as in
-- admin_status.
with failed_count as (
    select count(*) as n
      from (select 1 from {schema}.jobs
             where attempts >= max_attempts and locked_at is null
             limit %(failed_cap)s::bigint + 1) as f
),
sample as materialized (
    select task_identifier, queue_name, run_at,
           {schema}.job_state(locked_at, attempts, max_attempts, run_at, now()) as state
      from {schema}.jobs tablesample system (%(percent)s::float4)
),
scale as (
    select case when %(percent)s::float8 >= 100 then 1
                else %(rows)s::float8 / greatest(count(*), 1) end as f
      from sample
),
counts as (
    select task_identifier, queue_name,
           round(count(*) filter (where state = 'waiting') * (select f from scale))
               as waiting,
           round(count(*) filter (where state = 'scheduled') * (select f from scale))
               as scheduled,
           0 as running,
           round(count(*) filter (where state = 'retrying') * (select f from scale))
               as retrying,
           case when (select n from failed_count) > %(failed_cap)s::bigint
                then round(count(*) filter (where state = 'failed') * (select f from scale))
                else 0 end as failed,
           min(run_at) filter (where state = 'waiting') as oldest_waiting_run_at
      from sample
     group by task_identifier, queue_name
    union all
    select task_identifier, queue_name, 0, 0, count(*), 0, 0, null
      from {schema}.jobs
     where locked_at is not null
     group by task_identifier, queue_name
    union all
    select task_identifier, queue_name, 0, 0, 0, 0, count(*), null
      from (select task_identifier, queue_name from {schema}.jobs
             where attempts >= max_attempts and locked_at is null
               and (select n from failed_count) <= %(failed_cap)s::bigint
             order by run_at  -- the order of jobs_failed_idx: read through it, never a scan
             limit %(failed_cap)s::bigint) as f
     group by task_identifier, queue_name
)
select task_identifier,
       queue_name,
       sum(waiting)::bigint as waiting,
       sum(scheduled)::bigint as scheduled,
       sum(running)::bigint as running,
       sum(retrying)::bigint as retrying,
       sum(failed)::bigint as failed,
       min(oldest_waiting_run_at) as oldest_waiting_run_at,
       now() as db_now,
       (select n from failed_count) <= %(failed_cap)s::bigint as failed_exact
  from counts
 group by task_identifier, queue_name
having sum(waiting) + sum(scheduled) + sum(running) + sum(retrying) + sum(failed) > 0
 order by task_identifier, queue_name nulls first
