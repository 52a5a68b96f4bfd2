-- One job with its state.
select j.*,
       case when j.locked_at is not null then 'running'
            when j.attempts >= j.max_attempts then 'failed'
            when j.run_at <= now() then 'waiting'
            when j.attempts > 0 then 'retrying'
            else 'scheduled' end as state
  from {schema}.jobs j
 where j.id = %(job_id)s::bigint
