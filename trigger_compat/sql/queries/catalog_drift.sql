-- Per declared task, how many waiting jobs (not running, attempts left) were enqueued with a
-- priority, max attempts or queue the catalog no longer gives: one grouped pass over them.
-- Parallel arrays, one element per task; queues[i] is null (no queue) or the parts of its
-- queueName (see render_template). A job whose attempts already reach the new max attempts
-- keeps one more (attempts + 1), as --update-pending writes it; a templated queue that does
-- not render from a payload leaves that job's queue as it is.
with declared as (
    select *
      from unnest(%(identifiers)s::text[], %(priorities)s::smallint[],
                  %(max_attempts)s::smallint[], %(queues)s::jsonb[])
           as d(identifier, priority, max_attempts, queue)
),
waiting as (
    select d.identifier, j.id,
           j.priority <> d.priority as priority,
           j.max_attempts <> greatest(d.max_attempts, j.attempts + 1) as max_attempts,
           j.queue_name is distinct from
               (case when d.queue is null then null
                     else coalesce({schema}.render_template(d.queue, j.payload), j.queue_name)
                end) as queue
      from declared d
      join {schema}.jobs j on j.task_identifier = d.identifier and j.is_available
)
select w.identifier as task,
       count(*) as waiting,
       count(*) filter (where w.priority) as priority,
       count(*) filter (where w.max_attempts) as max_attempts,
       count(*) filter (where w.queue) as queue,
       count(*) filter (where w.priority or w.max_attempts or w.queue) as differing,
       max(w.id) filter (where w.priority or w.max_attempts or w.queue) as max_id
  from waiting w
 group by w.identifier
 order by w.identifier
