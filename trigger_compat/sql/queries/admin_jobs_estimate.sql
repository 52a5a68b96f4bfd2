-- The planner's estimate of the number of jobs (pg_class.reltuples, kept by autovacuum and
-- analyze; -1 when never analyzed): no scan of the table.
select coalesce((select c.reltuples::bigint
                   from pg_class c
                   join pg_namespace n on n.oid = c.relnamespace
                  where n.nspname = %(schema)s::text and c.relname = 'jobs'
                    and c.relkind in ('r', 'p')), -1) as estimate
