select * from {schema}.force_unlock_workers(%(worker_ids)s::text[])
