-- The jobs of a graphile-worker 0.13 schema that trigger-compat cannot hold (0.13 enforces
-- its limits in add_job only, and keeps numbers as integer): how many per field, and the
-- smallest id of each kind. graphile-worker 0.14+ and trigger-compat enforce the same limits
-- with constraints, so their jobs need no check.
select count(*) filter (where length(task_identifier) not between 1 and 128) as task_identifier,
       min(id) filter (where length(task_identifier) not between 1 and 128) as task_identifier_id,
       count(*) filter (where length(queue_name) not between 1 and 128) as queue_name,
       min(id) filter (where length(queue_name) not between 1 and 128) as queue_name_id,
       count(*) filter (where length(key) not between 1 and 512) as key,
       min(id) filter (where length(key) not between 1 and 512) as key_id,
       count(*) filter (where priority not between -32768 and 32767) as priority,
       min(id) filter (where priority not between -32768 and 32767) as priority_id,
       count(*) filter (where attempts not between 0 and 32767) as attempts,
       min(id) filter (where attempts not between 0 and 32767) as attempts_id,
       count(*) filter (where max_attempts not between 1 and 32767) as max_attempts,
       min(id) filter (where max_attempts not between 1 and 32767) as max_attempts_id
  from {jobs}
 where %(include_failed)s or attempts < max_attempts
