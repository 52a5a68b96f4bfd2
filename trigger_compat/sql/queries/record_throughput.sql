-- A worker's settled runs of one minute, added to what it recorded for that minute before.
insert into {schema}.job_stats as s (minute, worker_id, completed, failed)
values (date_trunc('minute', %(minute)s::timestamptz), %(worker_id)s::text,
        %(completed)s::integer, %(failed)s::integer)
on conflict (minute, worker_id) do update
   set completed = s.completed + excluded.completed,
       failed = s.failed + excluded.failed
