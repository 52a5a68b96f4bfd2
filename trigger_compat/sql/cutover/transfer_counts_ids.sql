-- As transfer_counts_flat.sql, out of graphile-worker 0.14+'s jobs table (task by id).
select t.identifier::text as task_identifier,
       count(*)::bigint as moved,
       count(*) filter (where st.state = 'waiting')::bigint   as waiting,
       count(*) filter (where st.state = 'scheduled')::bigint as scheduled,
       count(*) filter (where st.state = 'retrying')::bigint  as retrying,
       count(*) filter (where st.state = 'failed')::bigint    as failed,
       count(*) filter (where j.locked_at is not null)::bigint as released
  from {source} as j
  join {tasks} as t on t.id = j.task_id
 cross join lateral (
       select {job_state}(null::timestamptz, j.attempts::integer, j.max_attempts::integer,
                          case when j.locked_at is null then j.run_at
                               else greatest(j.run_at, pg_catalog.now()) end,
                          pg_catalog.now()) as state) as st
 where (%(include_failed)s or j.attempts < j.max_attempts)
   and not exists (select 1 from pg_temp.graphile_transfer_kept as k where k.src_id = j.id)
 group by t.identifier
 order by 1
