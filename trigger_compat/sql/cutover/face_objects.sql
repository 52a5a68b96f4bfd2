-- The objects that belong to the face schema %(schema)s (pg_depend 'n'), each with whether it
-- is one the face makes: a function of %(functions)s (regprocedure texts), a composite type
-- named in %(types)s, or the view "migrations" (face_migrations.sql). Anything else was made
-- by someone else (graphile-worker's migrations run on the face make tables, types and
-- functions there). Tables first.
select pg_catalog.pg_describe_object(d.classid, d.objid, 0) as object,
       (d.classid = 'pg_catalog.pg_proc'::regclass
            and d.objid in (select pg_catalog.to_regprocedure(f)::oid
                              from pg_catalog.unnest(%(functions)s::text[]) as f))
       or (d.classid = 'pg_catalog.pg_type'::regclass
            and exists (select from pg_catalog.pg_type t
                          join pg_catalog.pg_class c on c.oid = t.typrelid
                         where t.oid = d.objid and c.relkind = 'c'
                           and t.typname = any (%(types)s::text[])))
       or (d.classid = 'pg_catalog.pg_class'::regclass
            and exists (select from pg_catalog.pg_class c
                         where c.oid = d.objid and c.relkind = 'v'
                           and c.relname = 'migrations')) as own
  from pg_catalog.pg_depend d
 where d.refclassid = 'pg_catalog.pg_namespace'::regclass
   and d.refobjid = (select n.oid from pg_catalog.pg_namespace n where n.nspname = %(schema)s)
   and d.deptype = 'n'
 order by coalesce((select case c.relkind when 'r' then 0 when 'v' then 1 else 2 end
                      from pg_catalog.pg_class c
                     where d.classid = 'pg_catalog.pg_class'::regclass and c.oid = d.objid), 3),
          1
