-- The named queues of the jobs to move, on the receiving side (trigger-compat's job_queues,
-- or graphile-worker 0.14+'s): one row per name, existing ones untouched. The names come from
-- the sending side's queue table.
insert into {target} (queue_name)
select q.queue_name
  from {source} as q
 where q.queue_name is not null
 order by 1
on conflict (queue_name) do nothing
