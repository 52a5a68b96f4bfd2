select * from {schema}.complete_jobs(%(job_ids)s::bigint[], %(worker_id)s::text)
