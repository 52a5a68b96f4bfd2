-- As transfer_kept_flat.sql, out of graphile-worker 0.14+'s jobs table (task names by id).
create temporary table graphile_transfer_kept on commit drop as
select j.id::bigint as src_id, tk.identifier::text as task_identifier, j.key::text as key
  from {source} as j
  join {tasks} as tk on tk.id = j.task_id
  join {target} as t on t.key = j.key
 where j.key is not null
   and (%(include_failed)s or j.attempts < j.max_attempts)
