-- Delete these jobs (running jobs are left alone). Returns the ids deleted, in order.
with picked as (
    select id from {schema}.jobs
     where id = any(%(job_ids)s::bigint[]) and locked_at is null
       for update skip locked
),
deleted as (
    delete from {schema}.jobs j using picked where j.id = picked.id returning j.id
)
select id from deleted order by id
