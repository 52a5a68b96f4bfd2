-- The jobs kept back per task (their key is held on the receiving side).
select task_identifier, count(*)::bigint as key_kept
  from pg_temp.graphile_transfer_kept
 group by task_identifier
 order by task_identifier
