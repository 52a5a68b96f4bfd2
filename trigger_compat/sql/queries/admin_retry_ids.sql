-- Run these jobs again now with their attempts reset (running jobs are left alone).
-- Returns the ids retried, in order.
with picked as (
    select id from {schema}.jobs
     where id = any(%(job_ids)s::bigint[]) and locked_at is null
       for update skip locked
),
retried as (
    update {schema}.jobs j
       set attempts = 0, run_at = now(), updated_at = now()
      from picked
     where j.id = picked.id
    returning j.id
),
notified as (
    select {schema}.notify_jobs(count(*)::integer) from retried
)
select retried.id from retried, notified order by retried.id
