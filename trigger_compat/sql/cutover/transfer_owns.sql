-- Whether the current role owns the table %(table)s (a quoted, schema-qualified name): only
-- the owner may switch its triggers off.
select coalesce((select pg_catalog.pg_has_role(c.relowner, 'USAGE')
                   from pg_catalog.pg_class c
                  where c.oid = pg_catalog.to_regclass(%(table)s)), false) as owns
