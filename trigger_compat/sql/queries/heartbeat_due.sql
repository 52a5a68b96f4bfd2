-- Seconds until the oldest heartbeat of another worker is `timeout` old (null: no other worker).
select extract(epoch from min(last_heartbeat_at) + %(timeout)s::interval - pg_catalog.now())::float8
       as seconds
  from {schema}.workers
 where worker_id <> %(worker_id)s
