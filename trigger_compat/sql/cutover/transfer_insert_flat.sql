-- The staged jobs into a jobs table that holds the task and queue names in its rows
-- (trigger-compat's `jobs`, or graphile-worker 0.13's), in their original order, every field
-- kept; new ids. A key taken meanwhile (a producer added it after the check) keeps its job:
-- that staged job is marked key_taken and stays where it was.
with inserted as (
    insert into {jobs} (task_identifier, queue_name, payload, priority, run_at, attempts,
                        max_attempts, last_error, key, revision, flags, created_at, updated_at)
    select s.task_identifier, s.queue_name, s.payload, s.priority, s.run_at, s.attempts,
           s.max_attempts, s.last_error, s.key, s.revision, s.flags, s.created_at, s.updated_at
      from pg_temp.graphile_transfer as s
     where not s.key_taken
     order by s.src_id
    on conflict (key) do nothing
    returning key
)
update pg_temp.graphile_transfer as s
   set key_taken = true
 where s.key is not null
   and not s.key_taken
   and not exists (select 1 from inserted as i where i.key = s.key)
