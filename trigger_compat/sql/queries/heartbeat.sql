select {schema}.heartbeat(
    %(worker_id)s, %(name)s, %(hostname)s, %(pid)s::integer, %(task_identifiers)s::text[])
