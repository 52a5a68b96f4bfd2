-- Which of the tables (or views) %(names)s schema %(schema)s holds, with their kind
-- ('r' table, 'p' partitioned table, 'v' view).
select c.relname::text as name, c.relkind::text as kind
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
 where n.nspname = %(schema)s
   and c.relkind in ('r', 'p', 'v')
   and c.relname = any (%(names)s)
 order by 1
