-- The jobs to move, out of a jobs table that holds the task and queue names in its rows
-- (graphile-worker 0.13's `jobs`, or trigger-compat's `jobs`), into a temporary table for the
-- rest of the transaction. Every job there is taken: graphile-worker and trigger-compat keep
-- only jobs that have not succeeded (waiting, scheduled, retrying, permanently failed, or held
-- by a worker), except the permanently failed ones when %(include_failed)s is false. A job a
-- worker held is released as graphile-worker releases a stale lock: run_at no earlier than
-- now, the interrupted attempt counted. Numbers are widened to bigint so that a value the
-- other side cannot hold is reported, not cut.
create temporary table graphile_transfer on commit drop as
select j.id::bigint                 as src_id,
       j.task_identifier::text      as task_identifier,
       j.queue_name::text           as queue_name,
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
 where %(include_failed)s or j.attempts < j.max_attempts
