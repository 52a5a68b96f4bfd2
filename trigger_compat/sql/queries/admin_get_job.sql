-- One job with its state.
select j.*,
       {schema}.job_state(j.locked_at, j.attempts, j.max_attempts, j.run_at, now()) as state
  from {schema}.jobs j
 where j.id = %(job_id)s::bigint
