-- The task identifiers of trigger-compat's jobs, in graphile-worker 0.14+'s tasks table.
insert into {tasks} (identifier)
select distinct j.task_identifier
  from {jobs} as j
 order by 1
on conflict (identifier) do nothing
