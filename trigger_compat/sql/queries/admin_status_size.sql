-- How many jobs `status` would count, as the planner reckons it without reading a row: the
-- density of the table at its last vacuum or analyze (pg_class.reltuples / relpages) times its
-- size in pages now, so jobs added since are counted too; before any analyze, 60 jobs a page.
select coalesce((
    select (case when c.reltuples >= 0 and c.relpages > 0
                 then c.reltuples::float8 / c.relpages else 60 end
            * pg_catalog.pg_relation_size(c.oid)
            / pg_catalog.current_setting('block_size')::float8)::bigint
      from pg_catalog.pg_class c
     where c.oid = pg_catalog.to_regclass(pg_catalog.quote_ident(%(schema_name)s) || '.jobs')
), 0) as estimate
