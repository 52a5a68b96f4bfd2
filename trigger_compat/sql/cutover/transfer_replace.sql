-- --on-conflict replace: the receiving side's jobs that hold a key of a job to move give it
-- up, by add_job's rule for a job replaced through its key: an available job (not held by a
-- worker, attempts left) is deleted, the moved job takes its place; a running or permanently
-- failed one keeps its row without the key and can no longer retry (attempts = max_attempts).
-- The jobs kept back are then moved after all. Returns how many of each.
with held as (
    select j.id, (j.locked_at is null and j.attempts < j.max_attempts) as available
      from {jobs} as j
      join pg_temp.graphile_transfer_kept as k on k.key = j.key
), deleted as (
    delete from {jobs} as j
     using held as h
     where j.id = h.id and h.available
    returning j.id
), detached as (
    update {jobs} as j
       set key = null,
           attempts = j.max_attempts,
           updated_at = pg_catalog.now()
      from held as h
     where j.id = h.id and not h.available
    returning j.id
), released as (
    delete from pg_temp.graphile_transfer_kept
    returning 1
)
select (select count(*) from deleted)::bigint  as deleted,
       (select count(*) from detached)::bigint as detached,
       (select count(*) from released)::bigint as released
