-- The staged jobs the receiving side cannot hold (its limits: task identifier and queue name
-- 1-128 characters, key 1-512, priority, attempts and max_attempts in smallint range,
-- max_attempts at least 1): how many per field, and the smallest id of each kind.
select count(*) filter (where length(task_identifier) not between 1 and 128) as task_identifier,
       min(src_id) filter (where length(task_identifier) not between 1 and 128) as task_identifier_id,
       count(*) filter (where length(queue_name) not between 1 and 128) as queue_name,
       min(src_id) filter (where length(queue_name) not between 1 and 128) as queue_name_id,
       count(*) filter (where length(key) not between 1 and 512) as key,
       min(src_id) filter (where length(key) not between 1 and 512) as key_id,
       count(*) filter (where priority not between -32768 and 32767) as priority,
       min(src_id) filter (where priority not between -32768 and 32767) as priority_id,
       count(*) filter (where attempts not between 0 and 32767) as attempts,
       min(src_id) filter (where attempts not between 0 and 32767) as attempts_id,
       count(*) filter (where max_attempts not between 1 and 32767) as max_attempts,
       min(src_id) filter (where max_attempts not between 1 and 32767) as max_attempts_id
  from pg_temp.graphile_transfer
