-- What `catalog diff` compares with a catalog: the stored queue limits, the known recurring
-- tasks, and the jobs waiting (not running, attempts left) per task: one grouped pass.
select
    (select coalesce(jsonb_agg(jsonb_build_object(
                'queue_name', q.queue_name, 'concurrency', q.concurrency) order by q.queue_name),
            '[]'::jsonb)
       from {schema}.job_queues q) as queues,
    (select coalesce(jsonb_agg(jsonb_build_object(
                'identifier', k.identifier, 'schedule', k.schedule,
                'known_since', k.known_since, 'last_execution', k.last_execution)
                order by k.identifier),
            '[]'::jsonb)
       from {schema}.known_crontabs k) as crontabs,
    (select coalesce(jsonb_agg(jsonb_build_object('task', w.task_identifier, 'waiting', w.n)
                order by w.task_identifier),
            '[]'::jsonb)
       from (select j.task_identifier, count(*) as n
               from {schema}.jobs j
              where j.is_available
              group by j.task_identifier) as w) as waiting,
    now() as db_now
