-- The functions of the schema (all, or those named name): for each overload its arguments
-- (as DROP and GRANT name them, and their types alone), whether it is SECURITY DEFINER, its
-- owner and who may EXECUTE it ('' for PUBLIC; with grant option). See core.migrations.Overload.
select p.proname,
       pg_catalog.pg_get_function_identity_arguments(p.oid),
       pg_catalog.oidvectortypes(p.proargtypes),
       p.prosecdef,
       pg_catalog.pg_get_userbyid(p.proowner),
       coalesce((select jsonb_agg(jsonb_build_array(
                            case when a.grantee = 0 then ''
                                 else pg_catalog.pg_get_userbyid(a.grantee) end,
                            a.is_grantable))
                   from pg_catalog.aclexplode(
                            coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) as a
                  where a.privilege_type = 'EXECUTE'),
                '[]'::jsonb)
  from pg_catalog.pg_proc p
  join pg_catalog.pg_namespace n on n.oid = p.pronamespace
 where n.nspname = %(schema_name)s
   and p.prokind = 'f'
   and (%(name)s::text is null or p.proname = %(name)s::text)
 order by p.proname, 2
