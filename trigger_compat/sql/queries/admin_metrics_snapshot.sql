-- The database side of the metrics in one statement: jobs per task, queue and state
-- (job_state) with the age of the oldest waiting job (due, not yet taken: how far behind the
-- workers are), and each registered worker's heartbeat age.
select
    (select coalesce(jsonb_agg(s order by s.task_identifier, s.queue_name), '[]'::jsonb)
       from (select task_identifier,
                    coalesce(queue_name, '') as queue_name,
                    count(*) filter (where state = 'waiting') as waiting,
                    count(*) filter (where state = 'scheduled') as scheduled,
                    count(*) filter (where state = 'running') as running,
                    count(*) filter (where state = 'retrying') as retrying,
                    count(*) filter (where state = 'failed') as failed,
                    extract(epoch from max(now() - run_at) filter (where state = 'waiting'))::float8
                        as oldest_waiting_seconds
               from (select task_identifier, queue_name, run_at,
                            {schema}.job_state(locked_at, attempts, max_attempts, run_at, now())
                                as state
                       from {schema}.jobs) as j
              group by task_identifier, queue_name) as s) as tasks,
    (select coalesce(jsonb_agg(w order by w.worker_id), '[]'::jsonb)
       from (select worker_id, name,
                    extract(epoch from now() - last_heartbeat_at)::float8 as heartbeat_age_seconds
               from {schema}.workers) as w) as workers
