-- One batch of "delete the failed jobs": the next batch_size failed jobs after after_id (up to
-- max_id). Returns the ids deleted, in order.
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
deleted as (
    delete from {schema}.jobs j using picked where j.id = picked.id returning j.id
)
select id from deleted order by id
