-- The named queues with their concurrency limit and how many of their jobs run now
-- (through jobs_queue_running_idx).
select q.queue_name,
       q.concurrency,
       (select count(*) from {schema}.jobs j
         where j.locked_at is not null and j.queue_name = q.queue_name) as running
  from {schema}.job_queues q
 order by q.queue_name
