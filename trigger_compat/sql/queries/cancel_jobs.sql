select * from {schema}.cancel_jobs(%(job_ids)s::bigint[], %(reason)s::text)
