-- The named queues of the staged jobs, on the receiving side (trigger-compat's job_queues, or
-- graphile-worker 0.14+'s): one row per name, existing ones untouched.
insert into {queues} (queue_name)
select distinct s.queue_name
  from pg_temp.graphile_transfer as s
 where s.queue_name is not null and not s.key_taken
 order by 1
on conflict (queue_name) do nothing
