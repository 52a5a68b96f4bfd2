delete from {schema}.migration_functions where name = %(name)s
