-- The jobs to move whose key a job of the receiving side already holds, out of a jobs table
-- with the task name in its rows (graphile-worker 0.13's, or trigger-compat's), in a
-- temporary table for the rest of the transaction. --on-conflict keep leaves them where they
-- are.
create temporary table graphile_transfer_kept on commit drop as
select j.id::bigint as src_id, j.task_identifier::text as task_identifier, j.key::text as key
  from {source} as j
  join {target} as t on t.key = j.key
 where j.key is not null
   and (%(include_failed)s or j.attempts < j.max_attempts)
