-- Record this worker's heartbeat, and answer in the same statement how many seconds remain
-- until the oldest heartbeat of another worker is `timeout` old (null: no other worker), and
-- which of this worker's jobs were cancelled (cancel_jobs): the fallback of the 'cancel:'
-- notification.
select extract(epoch from min(w.last_heartbeat_at) + %(timeout)s::interval - pg_catalog.now())::float8
       as seconds,
       array(select c.job_id from {schema}.job_cancellations c
              join {schema}.jobs j on j.id = c.job_id and j.locked_by = c.worker_id
             where c.worker_id = %(worker_id)s) as cancelled
  from (select {schema}.heartbeat(
            %(worker_id)s, %(name)s, %(hostname)s, %(pid)s::integer,
            %(task_identifiers)s::text[])) as beat
  left join {schema}.workers w on w.worker_id <> %(worker_id)s
