-- The task identifiers of the staged jobs, in graphile-worker 0.14+'s tasks table.
insert into {tasks} (identifier)
select distinct s.task_identifier
  from pg_temp.graphile_transfer as s
 where not s.key_taken
 order by 1
on conflict (identifier) do nothing
