select * from {schema}.remove_job(%(job_key)s)
