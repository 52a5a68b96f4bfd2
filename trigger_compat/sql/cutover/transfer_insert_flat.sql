-- The move, first half, between two jobs tables that hold the task and queue names in their
-- rows (graphile-worker 0.13's and trigger-compat's): every job transfer_counts_flat.sql
-- counted is inserted into {target} in id order, every field kept (ids are new). A job a
-- worker held is released as graphile-worker releases a stale lock: run_at no earlier than
-- now, the interrupted attempt counted. A key taken on {target} since transfer_kept_flat.sql
-- ran (a producer added it meanwhile) makes the INSERT write fewer rows than counted: the
-- caller then rolls back.
insert into {target} (task_identifier, queue_name, payload, priority, run_at, attempts,
                      max_attempts, last_error, key, revision, flags, created_at, updated_at)
select j.task_identifier, j.queue_name, j.payload, j.priority,
       case when j.locked_at is null then j.run_at
            else greatest(j.run_at, pg_catalog.now()) end,
       j.attempts, j.max_attempts, j.last_error, j.key, j.revision, j.flags,
       j.created_at, j.updated_at
  from {source} as j
 where (%(include_failed)s or j.attempts < j.max_attempts)
   and not exists (select 1 from pg_temp.graphile_transfer_kept as k where k.src_id = j.id)
 order by j.id
on conflict (key) do nothing
