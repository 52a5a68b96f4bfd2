select * from {schema}.rescue_jobs(%(timeout)s::interval)
