-- One batch of "retry the failed jobs": the next batch_size failed jobs after after_id (up to
-- max_id) run again now with their attempts reset. Returns the ids retried, in order.
with picked as (
    select id from {schema}.jobs
     where locked_at is null and attempts >= max_attempts
       and id > %(after_id)s::bigint and id <= %(max_id)s::bigint
       and (%(task)s::text is null or task_identifier = %(task)s::text)
       and (%(cutoff)s::timestamptz is null or updated_at <= %(cutoff)s::timestamptz)
     order by id
     limit %(batch_size)s::integer
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
