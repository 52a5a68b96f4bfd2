-- The database side of /metrics in one statement: jobs per task and state, and each
-- registered worker's heartbeat age.
select
    (select coalesce(jsonb_agg(s order by s.task_identifier), '[]'::jsonb)
       from (select task_identifier,
                    count(*) filter (where locked_at is null and attempts < max_attempts
                                       and run_at <= now()) as waiting,
                    count(*) filter (where locked_at is null and attempts = 0
                                       and run_at > now()) as scheduled,
                    count(*) filter (where locked_at is not null) as running,
                    count(*) filter (where locked_at is null and attempts > 0
                                       and attempts < max_attempts and run_at > now())
                        as retrying,
                    count(*) filter (where locked_at is null and attempts >= max_attempts)
                        as failed
               from {schema}.jobs
              group by task_identifier) as s) as tasks,
    (select coalesce(jsonb_agg(w order by w.worker_id), '[]'::jsonb)
       from (select worker_id, name,
                    extract(epoch from now() - last_heartbeat_at)::float8 as heartbeat_age_seconds
               from {schema}.workers) as w) as workers
