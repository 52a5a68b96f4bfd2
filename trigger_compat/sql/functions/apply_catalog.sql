-- apply_catalog: bring the queue limits and the recurring tasks of the schema to what a
-- catalog declares, in one statement (so one transaction), and tell the listening workers
-- to reload their catalog (payload 'catalog' on the schema's channel, see notify_jobs).
-- Queues: each declared limit is stored; a stored limit the catalog no longer declares goes
-- back to 1 (a named queue is serial unless declared). Recurring tasks: a declared one the
-- schema does not know is recorded as known since "now" (no backfill), a changed schedule
-- is recorded, one no longer declared is forgotten (except ``keep``: internal ones such as
-- __reporter). Returns one row per change: kind, name, old and new value (text). The
-- "before" rows are read from the statement's snapshot (no FOR UPDATE: rows this statement
-- modifies would then be skipped).
create or replace function apply_catalog(
    queue_names  text[],
    limits       integer[],
    crontabs     text[],
    schedules    text[],
    keep         text[],
    now          timestamptz default null
) returns table (kind text, name text, old_value text, new_value text)
language plpgsql volatile
set search_path from current
as $$
#variable_conflict use_column
declare
    v_now timestamptz := coalesce(apply_catalog.now, pg_catalog.now());
begin
    return query
    with declared as (
        select q, l from unnest(apply_catalog.queue_names, apply_catalog.limits) as d(q, l)
    ),
    before as (
        select q.queue_name, q.concurrency from job_queues q
         where q.queue_name in (select d.q from declared d)
            or q.concurrency <> 1
    ),
    upserted as (
        insert into job_queues as jq (queue_name, concurrency)
        select d.q, d.l from declared d
         order by d.q
        on conflict (queue_name) do update set concurrency = excluded.concurrency
         where jq.concurrency is distinct from excluded.concurrency
        returning jq.queue_name, jq.concurrency
    ),
    reset as (
        update job_queues jq set concurrency = 1
         where jq.concurrency <> 1
           and jq.queue_name not in (select d.q from declared d)
        returning jq.queue_name, jq.concurrency
    )
    select 'queue'::text, u.queue_name, b.concurrency::text, u.concurrency::text
      from (select * from upserted union all select * from reset) as u
      left join before b on b.queue_name = u.queue_name
     order by 2;

    return query
    with declared as (
        select i, s from unnest(apply_catalog.crontabs, apply_catalog.schedules) as d(i, s)
    ),
    before as (
        select k.identifier, k.schedule from known_crontabs k
    ),
    added as (
        insert into known_crontabs as k (identifier, known_since, schedule)
        select d.i, v_now, d.s from declared d
         order by d.i
        on conflict (identifier) do update set schedule = excluded.schedule
         where k.schedule is distinct from excluded.schedule
        returning k.identifier, k.schedule
    ),
    removed as (
        delete from known_crontabs k
         where k.identifier not in (select d.i from declared d)
           and k.identifier <> all (coalesce(apply_catalog.keep, '{}'))
        returning k.identifier
    )
    select case when b.identifier is null then 'recurring:added' else 'recurring:changed' end,
           a.identifier, b.schedule, a.schedule
      from added a left join before b on b.identifier = a.identifier
    union all
    select 'recurring:removed', r.identifier, b.schedule, null
      from removed r left join before b on b.identifier = r.identifier
     order by 2;

    perform pg_notify(
        case when octet_length(current_schema()) <= 60
             then 'tc:' || current_schema()
             else 'tc:' || md5(current_schema()) end,
        'catalog');
end
$$;
