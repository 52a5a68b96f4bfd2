select pg_advisory_xact_lock(%(lock_class)s::integer, hashtext(%(schema_name)s))
