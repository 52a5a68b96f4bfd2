select * from {schema}.jobs where id = %(job_id)s
