-- What the transfer did, per task: jobs moved, by the state they are in now (trigger-compat's
-- job_state rule; a job a worker held counts as released), and jobs left where they were
-- because the other side holds their key.
select s.task_identifier,
       count(*) filter (where not s.key_taken)::bigint as moved,
       count(*) filter (where not s.key_taken and st.state = 'waiting')::bigint   as waiting,
       count(*) filter (where not s.key_taken and st.state = 'scheduled')::bigint as scheduled,
       count(*) filter (where not s.key_taken and st.state = 'retrying')::bigint  as retrying,
       count(*) filter (where not s.key_taken and st.state = 'failed')::bigint    as failed,
       count(*) filter (where not s.key_taken and s.was_locked)::bigint as released,
       count(*) filter (where s.key_taken)::bigint as key_kept
  from pg_temp.graphile_transfer as s
 cross join lateral (
       select {job_state}(null::timestamptz, s.attempts::integer, s.max_attempts::integer,
                          s.run_at, pg_catalog.now()) as state) as st
 group by s.task_identifier
 order by s.task_identifier
