select * from {schema}.register_crontabs(%(identifiers)s::text[], %(now)s::timestamptz)
