select * from {schema}.permanently_fail_jobs(%(job_ids)s::bigint[], %(error_message)s::text)
