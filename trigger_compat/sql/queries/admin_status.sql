-- Job counts per task, queue and state (job_state: each job in exactly one state), the oldest
-- waiting job's run_at, and the database clock. One sequential pass over the jobs table.
select task_identifier,
       queue_name,
       count(*) filter (where state = 'waiting') as waiting,
       count(*) filter (where state = 'scheduled') as scheduled,
       count(*) filter (where state = 'running') as running,
       count(*) filter (where state = 'retrying') as retrying,
       count(*) filter (where state = 'failed') as failed,
       min(run_at) filter (where state = 'waiting') as oldest_waiting_run_at,
       now() as db_now
  from (select task_identifier, queue_name, run_at,
               {schema}.job_state(locked_at, attempts, max_attempts, run_at, now()) as state
          from {schema}.jobs) as j
 group by task_identifier, queue_name
 order by task_identifier, queue_name nulls first
