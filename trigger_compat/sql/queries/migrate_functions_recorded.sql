-- The function files applied to the schema, by name, with the SHA-256 of their text then.
select name, sha256 from {schema}.migration_functions order by name
