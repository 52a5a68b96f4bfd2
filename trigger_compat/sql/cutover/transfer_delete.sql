-- The move, second half: the jobs inserted on the other side leave {source} (the same
-- selection as the INSERT, under the same lock), so a second run finds nothing to move.
delete from {source} as j
 where (%(include_failed)s or j.attempts < j.max_attempts)
   and not exists (select 1 from pg_temp.graphile_transfer_kept as k where k.src_id = j.id)
