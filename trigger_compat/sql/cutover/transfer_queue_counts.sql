-- graphile-worker 0.13's job_queues set right in one statement after a transfer that bypassed
-- its row triggers (which add or subtract one per job, slower with every job of the same
-- queue in one transaction): job_count = the queue's jobs, and queues without jobs gone, as
-- those triggers leave them.
with counts as (
    select j.queue_name, count(*)::integer as job_count
      from {jobs} as j
     where j.queue_name is not null
     group by j.queue_name
), upserted as (
    insert into {queues} as q (queue_name, job_count)
    select c.queue_name, c.job_count from counts as c
     order by 1
    on conflict (queue_name) do update
       set job_count = excluded.job_count
     where q.job_count is distinct from excluded.job_count
    returning 1
)
delete from {queues} as q
 where not exists (select 1 from counts as c where c.queue_name = q.queue_name)
