-- The migrations applied to the schema (fails when it has never been migrated).
select version from {schema}.migrations order by version
