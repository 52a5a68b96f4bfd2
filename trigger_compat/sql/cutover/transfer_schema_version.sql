-- The last migration trigger-compat recorded in its schema.
select max(version)::integer as version from {migrations}
