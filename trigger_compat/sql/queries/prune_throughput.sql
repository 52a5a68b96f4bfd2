-- Drop the throughput rows of the minutes before %(before)s; returns how many went.
with pruned as (
    delete from {schema}.job_stats where minute < %(before)s::timestamptz returning 1
)
select count(*) as pruned from pruned
