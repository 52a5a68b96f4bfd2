-- As transfer_insert_flat.sql, out of graphile-worker 0.14+'s jobs table (task and queue by
-- id, names in {tasks} and {queues}) into trigger-compat's.
insert into {target} (task_identifier, queue_name, payload, priority, run_at, attempts,
                      max_attempts, last_error, key, revision, flags, created_at, updated_at)
select t.identifier, q.queue_name, j.payload, j.priority,
       case when j.locked_at is null then j.run_at
            else greatest(j.run_at, pg_catalog.now()) end,
       j.attempts, j.max_attempts, j.last_error, j.key, j.revision, j.flags,
       j.created_at, j.updated_at
  from {source} as j
  join {tasks} as t on t.id = j.task_id
  left join {queues} as q on q.id = j.job_queue_id
 where (%(include_failed)s or j.attempts < j.max_attempts)
   and not exists (select 1 from pg_temp.graphile_transfer_kept as k where k.src_id = j.id)
 order by j.id
on conflict (key) do nothing
