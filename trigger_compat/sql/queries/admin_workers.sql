-- Registered workers, their heartbeat age and how many jobs each holds.
select w.worker_id,
       w.name,
       w.hostname,
       w.pid,
       w.task_identifiers,
       w.started_at,
       w.last_heartbeat_at,
       extract(epoch from now() - w.last_heartbeat_at)::float8 as heartbeat_age_seconds,
       (select count(*) from {schema}.jobs j
         where j.locked_at is not null and j.locked_by = w.worker_id) as running
  from {schema}.workers w
 order by w.name, w.worker_id
