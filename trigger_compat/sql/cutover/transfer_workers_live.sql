-- trigger-compat workers that look alive: a heartbeat within the last %(alive_seconds)s
-- seconds (workers refresh it every few seconds).
select count(*)::bigint as workers,
       max(w.last_heartbeat_at) as newest,
       (array_agg(w.name || ' (' || w.worker_id || ')' order by w.last_heartbeat_at desc))[1:3]
           as names,
       (select count(*) from {jobs} as j where j.locked_at is not null)::bigint as running
  from {workers} as w
 where w.last_heartbeat_at > pg_catalog.now() - pg_catalog.make_interval(secs => %(alive_seconds)s)
