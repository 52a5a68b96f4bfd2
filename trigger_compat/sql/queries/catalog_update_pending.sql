-- One batch of `catalog apply --update-pending`: the next batch_size waiting jobs (not
-- running: locked_at is null, attempts left) after after_id (up to max_id) whose priority,
-- max attempts or queue differ from the declared ones (parallel arrays as in
-- catalog_drift.sql) get the declared ones. Rows a worker is fetching right now are skipped
-- (SKIP LOCKED) and the update re-checks locked_at, so a job being fetched is never changed.
-- A new queue name gets its job_queues row, as add_job gives it. Returns the ids changed,
-- the highest id looked at and how many were looked at (fewer than batch_size: the last batch).
with declared as (
    select *
      from unnest(%(identifiers)s::text[], %(priorities)s::smallint[],
                  %(max_attempts)s::smallint[], %(queues)s::jsonb[])
           as d(identifier, priority, max_attempts, queue)
),
target as (
    select j.id,
           d.priority,
           greatest(d.max_attempts, j.attempts + 1)::smallint as max_attempts,
           case when d.queue is null then null
                else coalesce({schema}.render_template(d.queue, j.payload), j.queue_name)
           end as queue_name
      from declared d
      join {schema}.jobs j on j.task_identifier = d.identifier
     where j.is_available
       and j.id > %(after_id)s::bigint and j.id <= %(max_id)s::bigint
       and (j.priority <> d.priority
            or j.max_attempts <> greatest(d.max_attempts, j.attempts + 1)
            or j.queue_name is distinct from
                (case when d.queue is null then null
                      else coalesce({schema}.render_template(d.queue, j.payload), j.queue_name)
                 end))
     order by j.id
     limit %(batch_size)s::integer
       for update of j skip locked
),
queues as (
    insert into {schema}.job_queues (queue_name)
    select distinct t.queue_name from target t where t.queue_name is not null
     order by 1
    on conflict do nothing
),
changed as (
    update {schema}.jobs j
       set priority = t.priority, max_attempts = t.max_attempts,
           queue_name = t.queue_name, updated_at = now()
      from target t
     where j.id = t.id and j.locked_at is null
    returning j.id
)
select coalesce((select array_agg(c.id order by c.id) from changed c), array[]::bigint[]) as ids,
       (select max(t.id) from target t) as last_id,
       (select count(*) from target t) as scanned
