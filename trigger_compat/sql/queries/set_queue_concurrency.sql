select {schema}.set_queue_concurrency(%(queue_name)s, %(concurrency)s::integer)
