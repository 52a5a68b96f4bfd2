-- As transfer_stage_flat.sql, out of graphile-worker 0.14+'s jobs table, whose rows name
-- their task and queue by id (tasks, job_queues).
create temporary table graphile_transfer on commit drop as
select j.id::bigint                 as src_id,
       t.identifier::text           as task_identifier,
       q.queue_name::text           as queue_name,
       j.payload::jsonb             as payload,
       j.priority::bigint           as priority,
       case when j.locked_at is null then j.run_at
            else greatest(j.run_at, pg_catalog.now()) end as run_at,
       j.attempts::bigint           as attempts,
       j.max_attempts::bigint       as max_attempts,
       j.last_error::text           as last_error,
       j.key::text                  as key,
       j.revision::bigint           as revision,
       j.flags::jsonb               as flags,
       j.created_at                 as created_at,
       j.updated_at                 as updated_at,
       j.locked_at is not null      as was_locked,
       false                        as key_taken
  from {jobs} as j
  join {tasks} as t on t.id = j.task_id
  left join {queues} as q on q.id = j.job_queue_id
 where %(include_failed)s or j.attempts < j.max_attempts
