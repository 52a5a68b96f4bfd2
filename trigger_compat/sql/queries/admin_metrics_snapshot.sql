-- The database side of /metrics in one statement: jobs per task and state (job_state), and
-- each registered worker's heartbeat age.
select
    (select coalesce(jsonb_agg(s order by s.task_identifier), '[]'::jsonb)
       from (select task_identifier,
                    count(*) filter (where state = 'waiting') as waiting,
                    count(*) filter (where state = 'scheduled') as scheduled,
                    count(*) filter (where state = 'running') as running,
                    count(*) filter (where state = 'retrying') as retrying,
                    count(*) filter (where state = 'failed') as failed
               from (select task_identifier,
                            {schema}.job_state(locked_at, attempts, max_attempts, run_at, now())
                                as state
                       from {schema}.jobs) as j
              group by task_identifier) as s) as tasks,
    (select coalesce(jsonb_agg(w order by w.worker_id), '[]'::jsonb)
       from (select worker_id, name,
                    extract(epoch from now() - last_heartbeat_at)::float8 as heartbeat_age_seconds
               from {schema}.workers) as w) as workers
