-- As transfer_insert_flat.sql, into graphile-worker 0.14+'s jobs table, whose rows name their
-- task and queue by id (transfer_tasks.sql and transfer_queues.sql ran first).
with inserted as (
    insert into {jobs} (task_id, job_queue_id, payload, priority, run_at, attempts,
                        max_attempts, last_error, key, revision, flags, created_at, updated_at)
    select t.id, q.id, s.payload, s.priority, s.run_at, s.attempts,
           s.max_attempts, s.last_error, s.key, s.revision, s.flags, s.created_at, s.updated_at
      from pg_temp.graphile_transfer as s
      join {tasks} as t on t.identifier = s.task_identifier
      left join {queues} as q on q.queue_name = s.queue_name
     where not s.key_taken
     order by s.src_id
    on conflict (key) do nothing
    returning key
)
update pg_temp.graphile_transfer as s
   set key_taken = true
 where s.key is not null
   and not s.key_taken
   and not exists (select 1 from inserted as i where i.key = s.key)
