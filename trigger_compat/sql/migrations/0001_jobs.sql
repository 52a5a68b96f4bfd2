-- The job table, named-queue limits and the SQL API (add_job, add_jobs, remove_job,
-- fetch_jobs, complete_jobs, fail_job and the admin functions).
--
-- Runs with search_path set to the target schema (then pg_temp); every function pins that
-- search_path with "set search_path from current", so the functions always act on the
-- schema they were created in.

create table jobs (
    id              bigint generated always as identity primary key,
    task_identifier text        not null
        constraint jobs_task_identifier_check check (length(task_identifier) between 1 and 128),
    queue_name      text
        constraint jobs_queue_name_check check (length(queue_name) between 1 and 128),
    payload         jsonb       not null default '{}'::jsonb,
    priority        smallint    not null default 0,
    run_at          timestamptz not null default now(),
    attempts        smallint    not null default 0,
    max_attempts    smallint    not null default 25
        constraint jobs_max_attempts_check check (max_attempts >= 1),
    last_error      text,
    key             text
        constraint jobs_key_check check (length(key) between 1 and 512),
    revision        integer     not null default 0,
    flags           jsonb,
    locked_at       timestamptz,
    locked_by       text,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    is_available    boolean generated always as (locked_at is null and attempts < max_attempts) stored,
    constraint jobs_key_key unique (key)
);

-- Fetch path for jobs without a named queue: ready jobs in priority, run_at, id order.
create index jobs_fetch_idx on jobs (priority, run_at, id) include (task_identifier)
    where is_available and queue_name is null;
-- Fetch path for named queues: the head of each queue.
create index jobs_queue_fetch_idx on jobs (queue_name, priority, run_at, id)
    where is_available and queue_name is not null;
-- Running jobs per queue (the concurrency check) and per worker (unlock, rescue).
create index jobs_queue_running_idx on jobs (queue_name)
    where locked_at is not null and queue_name is not null;
create index jobs_locked_by_idx on jobs (locked_by) where locked_at is not null;

-- One row per named queue ever used; concurrency = how many of its jobs may run at once
-- across all workers (1 = serial, the graphile-worker behaviour).
create table job_queues (
    queue_name  text primary key
        constraint job_queues_queue_name_check check (length(queue_name) between 1 and 128),
    concurrency integer not null default 1
        constraint job_queues_concurrency_check check (concurrency >= 1)
);

-- Wake the workers listening on this schema's channel ('tc:' || schema, or 'tc:' || md5(schema)
-- when that would pass 63 bytes; trigger_compat.core.sqlfiles.notify_channel is its twin).
-- No "set search_path" here, so it is inlined into the functions below, which pin the
-- search_path (and so current_schema()) themselves.
create function notify_jobs(job_count integer) returns void
language sql volatile
as $$
    select pg_notify(
        case when octet_length(current_schema()) <= 60
             then 'tc:' || current_schema()
             else 'tc:' || md5(current_schema()) end,
        job_count::text)
$$;

create function flags_object(flags text[]) returns jsonb
language sql immutable
as $$
    select case when flags is null or cardinality(flags) = 0 then null
                else (select jsonb_object_agg(f, true) from unnest(flags) as f) end
$$;

-- add_job: add one job (graphile-worker's SQL API, same named arguments) with graphile-worker
-- 0.16 job-key semantics, without the lost-row race (graphile issue #580): a keyed add always
-- returns a row. wake => false leaves the wake-up NOTIFY to the caller (add_jobs sends one for
-- its whole batch); an unsafe_dedupe add that found its job already there wakes nobody.
create function add_job(
    identifier   text,
    payload      jsonb       default null,
    queue_name   text        default null,
    run_at       timestamptz default null,
    max_attempts integer     default null,
    job_key      text        default null,
    priority     integer     default null,
    flags        text[]      default null,
    job_key_mode text        default 'replace',
    now          timestamptz default null,
    wake         boolean     default true
) returns jobs
language plpgsql volatile
set search_path from current
as $$
#variable_conflict use_column
declare
    v_job      jobs;
    v_payload  jsonb       := coalesce(add_job.payload, '{}'::jsonb);
    v_run_at   timestamptz := coalesce(add_job.run_at, add_job.now, pg_catalog.now());
    v_max      integer     := coalesce(add_job.max_attempts, 25);
    v_priority integer     := coalesce(add_job.priority, 0);
    v_flags    jsonb       := case when add_job.flags is not null
                                   then flags_object(add_job.flags) end;
    v_mode     text        := coalesce(add_job.job_key_mode, 'replace');
begin
    if v_mode not in ('replace', 'preserve_run_at', 'unsafe_dedupe') then
        raise exception 'invalid job_key_mode %', v_mode
            using errcode = '22023',
                  hint = 'use replace, preserve_run_at or unsafe_dedupe';
    end if;

    if add_job.queue_name is not null then
        insert into job_queues (queue_name) values (add_job.queue_name) on conflict do nothing;
    end if;

    if add_job.job_key is null then
        insert into jobs (task_identifier, payload, queue_name, run_at, max_attempts, priority, flags)
        values (add_job.identifier, v_payload, add_job.queue_name, v_run_at, v_max, v_priority, v_flags)
        returning * into v_job;
        if add_job.wake then
            perform notify_jobs(1);
        end if;
        return v_job;
    end if;

    if v_mode = 'unsafe_dedupe' then
        insert into jobs (task_identifier, payload, queue_name, run_at, max_attempts, key, priority, flags)
        values (add_job.identifier, v_payload, add_job.queue_name, v_run_at, v_max, add_job.job_key,
                v_priority, v_flags)
        on conflict (key) do update
            set revision = jobs.revision + 1, updated_at = pg_catalog.now()
        returning * into v_job;
        if add_job.wake and v_job.revision = 0 then
            perform notify_jobs(1);
        end if;
        return v_job;
    end if;

    loop
        -- An available job holds the key: update it in place.
        update jobs
           set task_identifier = add_job.identifier,
               payload = case when jsonb_typeof(jobs.payload) = 'array'
                               and jsonb_typeof(v_payload) = 'array'
                              then jobs.payload || v_payload else v_payload end,
               queue_name = add_job.queue_name,
               run_at = case when v_mode = 'preserve_run_at' and jobs.attempts = 0
                             then jobs.run_at else v_run_at end,
               max_attempts = v_max,
               priority = v_priority,
               flags = v_flags,
               attempts = 0,
               last_error = null,
               revision = jobs.revision + 1,
               updated_at = pg_catalog.now()
         where key = add_job.job_key and is_available
        returning * into v_job;
        if found then
            if add_job.wake then
                perform notify_jobs(1);
            end if;
            return v_job;
        end if;

        -- A running or permanently failed job holds the key: it keeps running (or stays
        -- failed) without its key and can no longer retry.
        update jobs
           set key = null, attempts = jobs.max_attempts, updated_at = pg_catalog.now()
         where key = add_job.job_key and not is_available;

        insert into jobs (task_identifier, payload, queue_name, run_at, max_attempts, key, priority, flags)
        values (add_job.identifier, v_payload, add_job.queue_name, v_run_at, v_max, add_job.job_key,
                v_priority, v_flags)
        on conflict (key) do nothing
        returning * into v_job;
        if found then
            if add_job.wake then
                perform notify_jobs(1);
            end if;
            return v_job;
        end if;
        -- Another transaction inserted the key meanwhile: go round and update that row.
    end loop;
end
$$;

-- add_jobs: many jobs in one call. Parallel arrays, one element per job.
-- modes: per job, null = replace; job_key_preserve_run_at turns every replace into
-- preserve_run_at (graphile's batch flag). Jobs without a key are inserted set-based, in
-- array order (ascending ids); keyed jobs go through add_job one by one in key order, so
-- that concurrent batches sharing keys take their locks in one global order (no deadlock)
-- and no keyed add is ever dropped. Rows come back unkeyed first, then keyed in key order.
create function add_jobs(
    identifiers   text[],
    payloads      jsonb[],
    queue_names   text[],
    run_ats       timestamptz[],
    max_attempts  integer[],
    job_keys      text[],
    priorities    integer[],
    flags         jsonb[],
    modes         text[],
    job_key_preserve_run_at boolean default false,
    now           timestamptz default null
) returns setof jobs
language plpgsql volatile
set search_path from current
as $$
#variable_conflict use_column
declare
    v_now   timestamptz := coalesce(add_jobs.now, pg_catalog.now());
    v_spec  record;
    v_job   jobs;
    v_bad   text;
begin
    select m into v_bad from unnest(add_jobs.modes) as m
     where m is not null and m not in ('replace', 'preserve_run_at', 'unsafe_dedupe') limit 1;
    if found then
        raise exception 'invalid job_key_mode %', v_bad
            using errcode = '22023',
                  hint = 'use replace, preserve_run_at or unsafe_dedupe';
    end if;

    insert into job_queues (queue_name)
    select distinct q from unnest(add_jobs.queue_names) as q where q is not null
    on conflict do nothing;

    return query
        insert into jobs (task_identifier, payload, queue_name, run_at, max_attempts, priority, flags)
        select s.identifier, coalesce(s.payload, '{}'::jsonb), s.queue_name,
               coalesce(s.run_at, v_now), coalesce(s.max_attempts, 25),
               coalesce(s.priority, 0), s.flags
          from unnest(add_jobs.identifiers, add_jobs.payloads, add_jobs.queue_names,
                      add_jobs.run_ats, add_jobs.max_attempts, add_jobs.job_keys,
                      add_jobs.priorities, add_jobs.flags) with ordinality
               as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority,
                    flags, ord)
         where s.job_key is null
         order by s.ord
        returning *;

    for v_spec in
        select s.*
          from unnest(add_jobs.identifiers, add_jobs.payloads, add_jobs.queue_names,
                      add_jobs.run_ats, add_jobs.max_attempts, add_jobs.job_keys,
                      add_jobs.priorities, add_jobs.flags, add_jobs.modes)
               as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority,
                    flags, mode)
         where s.job_key is not null
         order by s.job_key
    loop
        v_job := add_job(
            v_spec.identifier, v_spec.payload, v_spec.queue_name,
            coalesce(v_spec.run_at, v_now), v_spec.max_attempts, v_spec.job_key,
            v_spec.priority,
            (select array_agg(k) from jsonb_object_keys(v_spec.flags) as k),
            case when coalesce(v_spec.mode, 'replace') = 'replace' and add_jobs.job_key_preserve_run_at
                 then 'preserve_run_at' else coalesce(v_spec.mode, 'replace') end,
            v_now,
            false);
        return next v_job;
    end loop;
    if cardinality(add_jobs.identifiers) > 0 then
        perform notify_jobs(cardinality(add_jobs.identifiers));
    end if;
end
$$;

-- remove_job: an unlocked job (waiting, retrying or failed) is deleted; a running one loses
-- its key and its remaining attempts. Returns the row, or nothing when the key is unknown.
create function remove_job(job_key text) returns setof jobs
language plpgsql volatile
set search_path from current
as $$
#variable_conflict use_column
begin
    return query
        delete from jobs where key = remove_job.job_key and locked_at is null returning *;
    if found then
        return;
    end if;
    return query
        update jobs
           set key = null, attempts = jobs.max_attempts, updated_at = pg_catalog.now()
         where key = remove_job.job_key and locked_at is not null
        returning *;
end
$$;

-- fetch_jobs: lock up to max_jobs runnable jobs for worker_id, in priority, run_at, id
-- order. A named queue never has more locked jobs than its concurrency, whatever the
-- number of workers. Needs READ COMMITTED (each statement sees the latest commits).
-- Sorting and bitmap scans are disabled inside the function: the fetch must walk its
-- partial index in order and stop after max_jobs rows, even when the statistics are stale
-- (right after a bulk add) and the planner would otherwise sort every ready row.
create type fetch_candidate as (priority smallint, run_at timestamptz, id bigint);

create function fetch_jobs(
    worker_id        text,
    max_jobs         integer     default 1,
    task_identifiers text[]      default null,
    forbidden_flags  text[]      default null,
    now              timestamptz default null
) returns setof jobs
language plpgsql volatile
set search_path from current
set enable_sort = off
set enable_bitmapscan = off
as $$
#variable_conflict use_column
declare
    v_now     timestamptz := coalesce(fetch_jobs.now, pg_catalog.now());
    v_flags   text[] := case when cardinality(fetch_jobs.forbidden_flags) > 0
                             then fetch_jobs.forbidden_flags end;
    v_tasks   text[] := fetch_jobs.task_identifiers;
    v_cands   fetch_candidate[];
    v_ids     bigint[];
    v_queue   record;
    v_running integer;
    v_queued  boolean := false;
begin
    if fetch_jobs.max_jobs is null or fetch_jobs.max_jobs < 1 then
        return;
    end if;

    select coalesce(array_agg(row(c.priority, c.run_at, c.id)::fetch_candidate), '{}')
      into v_cands
      from (select j.priority, j.run_at, j.id from jobs j
             where j.is_available and j.queue_name is null and j.run_at <= v_now
               and (v_tasks is null or j.task_identifier = any(v_tasks))
               and (v_flags is null or j.flags is null or not (j.flags ?| v_flags))
             order by j.priority, j.run_at, j.id
             limit fetch_jobs.max_jobs
               for update skip locked) as c;

    for v_queue in
        select q.queue_name, q.concurrency from job_queues q
         where exists (
               select 1 from jobs j
                where j.queue_name = q.queue_name and j.is_available and j.run_at <= v_now
                  and (v_tasks is null or j.task_identifier = any(v_tasks))
                  and (v_flags is null or j.flags is null or not (j.flags ?| v_flags)))
           for update of q skip locked
    loop
        select count(*) into v_running from jobs j
         where j.queue_name = v_queue.queue_name and j.locked_at is not null;
        if v_running < v_queue.concurrency then
            v_queued := true;
            v_cands := v_cands || array(
                select row(j.priority, j.run_at, j.id)::fetch_candidate from jobs j
                 where j.queue_name = v_queue.queue_name and j.is_available and j.run_at <= v_now
                   and (v_tasks is null or j.task_identifier = any(v_tasks))
                   and (v_flags is null or j.flags is null or not (j.flags ?| v_flags))
                 order by j.priority, j.run_at, j.id
                 limit least(v_queue.concurrency - v_running, fetch_jobs.max_jobs)
                   for update skip locked);
        end if;
    end loop;

    if v_queued then
        -- Merge the candidates of every queue and keep the best max_jobs.
        select array_agg(c.id order by c.priority, c.run_at, c.id) into v_ids
          from (select (u).* from unnest(v_cands) as u) as c;
        v_ids := v_ids[1:fetch_jobs.max_jobs];
    else
        select array_agg(c.id) into v_ids from unnest(v_cands) as c;
    end if;

    return query
        update jobs
           set attempts = jobs.attempts + 1,
               locked_by = fetch_jobs.worker_id,
               locked_at = v_now,
               updated_at = pg_catalog.now()
         where id = any(v_ids)
        returning *;
end
$$;

-- complete_jobs: delete finished jobs (only those still locked by worker_id when given).
create function complete_jobs(job_ids bigint[], worker_id text default null) returns setof bigint
language sql volatile
set search_path from current
as $$
    delete from jobs
     where id = any(job_ids)
       and (complete_jobs.worker_id is null or locked_by = complete_jobs.worker_id)
    returning id
$$;

-- fail_job: record the error, unlock, and schedule the retry: run_at = max(now, run_at) +
-- exp(min(attempts, 10)) seconds unless the caller gives run_at.
create function fail_job(
    job_id        bigint,
    error_message text,
    worker_id     text        default null,
    run_at        timestamptz default null,
    now           timestamptz default null
) returns setof jobs
language sql volatile
set search_path from current
as $$
    update jobs
       set last_error = fail_job.error_message,
           run_at = coalesce(
               fail_job.run_at,
               greatest(coalesce(fail_job.now, pg_catalog.now()), jobs.run_at)
                   + exp(least(jobs.attempts, 10)) * interval '1 second'),
           locked_at = null,
           locked_by = null,
           updated_at = pg_catalog.now()
     where id = fail_job.job_id
       and locked_at is not null
       and (fail_job.worker_id is null or locked_by = fail_job.worker_id)
    returning *
$$;

create function permanently_fail_jobs(job_ids bigint[], error_message text default null)
returns setof jobs
language sql volatile
set search_path from current
as $$
    update jobs
       set last_error = coalesce(error_message, 'Manually marked as failed'),
           attempts = max_attempts,
           updated_at = pg_catalog.now()
     where id = any(job_ids) and locked_at is null
    returning *
$$;

create function reschedule_jobs(
    job_ids      bigint[],
    run_at       timestamptz default null,
    priority     integer     default null,
    attempts     integer     default null,
    max_attempts integer     default null
) returns setof jobs
language sql volatile
set search_path from current
as $$
    update jobs
       set run_at = coalesce(reschedule_jobs.run_at, jobs.run_at),
           priority = coalesce(reschedule_jobs.priority, jobs.priority),
           attempts = coalesce(reschedule_jobs.attempts, jobs.attempts),
           max_attempts = coalesce(reschedule_jobs.max_attempts, jobs.max_attempts),
           updated_at = pg_catalog.now()
     where id = any(job_ids) and locked_at is null
    returning *
$$;

create function force_unlock_workers(worker_ids text[]) returns setof jobs
language sql volatile
set search_path from current
as $$
    update jobs
       set locked_at = null, locked_by = null, updated_at = pg_catalog.now()
     where locked_at is not null and locked_by = any(worker_ids)
    returning *
$$;

create function set_queue_concurrency(queue_name text, concurrency integer) returns void
language sql volatile
set search_path from current
as $$
    insert into job_queues (queue_name, concurrency)
    values (set_queue_concurrency.queue_name, set_queue_concurrency.concurrency)
    on conflict (queue_name) do update set concurrency = excluded.concurrency
$$;
