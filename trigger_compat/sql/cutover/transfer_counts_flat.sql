-- What the move will take, per task, out of a jobs table that holds the task name in its
-- rows (graphile-worker 0.13's, or trigger-compat's): every job (the permanently failed ones
-- only when %(include_failed)s) except those kept back for their key, by the state it will
-- be in (trigger-compat's job_state rule; a job a worker held is counted as released, with
-- the run_at its release gives it). Runs under the lock of transfer_lock.sql, so the move
-- that follows takes exactly these jobs.
select j.task_identifier::text as task_identifier,
       count(*)::bigint as moved,
       count(*) filter (where st.state = 'waiting')::bigint   as waiting,
       count(*) filter (where st.state = 'scheduled')::bigint as scheduled,
       count(*) filter (where st.state = 'retrying')::bigint  as retrying,
       count(*) filter (where st.state = 'failed')::bigint    as failed,
       count(*) filter (where j.locked_at is not null)::bigint as released
  from {source} as j
 cross join lateral (
       select {job_state}(null::timestamptz, j.attempts::integer, j.max_attempts::integer,
                          case when j.locked_at is null then j.run_at
                               else greatest(j.run_at, pg_catalog.now()) end,
                          pg_catalog.now()) as state) as st
 where (%(include_failed)s or j.attempts < j.max_attempts)
   and not exists (select 1 from pg_temp.graphile_transfer_kept as k where k.src_id = j.id)
 group by j.task_identifier
 order by 1
