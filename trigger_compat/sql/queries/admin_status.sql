-- Job counts per task, queue and state (each job in exactly one state), the oldest waiting
-- job's run_at, and the database clock. One sequential pass over the jobs table.
select task_identifier,
       queue_name,
       count(*) filter (where locked_at is null and attempts < max_attempts and run_at <= now())
           as waiting,
       count(*) filter (where locked_at is null and attempts = 0 and run_at > now())
           as scheduled,
       count(*) filter (where locked_at is not null) as running,
       count(*) filter (where locked_at is null and attempts > 0 and attempts < max_attempts
                          and run_at > now())
           as retrying,
       count(*) filter (where locked_at is null and attempts >= max_attempts) as failed,
       min(run_at) filter (where locked_at is null and attempts < max_attempts
                             and run_at <= now())
           as oldest_waiting_run_at,
       now() as db_now
  from {schema}.jobs
 group by task_identifier, queue_name
 order by task_identifier, queue_name nulls first
