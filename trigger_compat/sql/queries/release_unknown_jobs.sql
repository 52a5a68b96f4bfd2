-- Release the jobs locked by worker_id that it does not know it holds (a fetch whose commit
-- succeeded but whose answer was lost with the connection).
update {schema}.jobs
   set locked_at = null, locked_by = null, updated_at = pg_catalog.now()
 where locked_by = %(worker_id)s and locked_at is not null
   and not (id = any(%(known)s::bigint[]))
returning id
