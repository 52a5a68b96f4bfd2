select {schema}.unregister_worker(%(worker_id)s) as released
