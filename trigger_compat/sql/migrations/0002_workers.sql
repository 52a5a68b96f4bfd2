-- Worker processes, their heartbeats, batched job outcomes and crash recovery.

-- One row per running worker process; last_heartbeat_at is refreshed every few seconds.
create table workers (
    worker_id         text primary key,
    name              text        not null,
    hostname          text,
    pid               integer,
    task_identifiers  text[],
    started_at        timestamptz not null default now(),
    last_heartbeat_at timestamptz not null default now()
);

create function heartbeat(
    worker_id        text,
    name             text,
    hostname         text,
    pid              integer,
    task_identifiers text[]
) returns void
language sql volatile
set search_path from current
as $$
    insert into workers (worker_id, name, hostname, pid, task_identifiers)
    values (heartbeat.worker_id, heartbeat.name, heartbeat.hostname, heartbeat.pid,
            heartbeat.task_identifiers)
    on conflict (worker_id) do update set last_heartbeat_at = pg_catalog.now()
$$;

-- A worker that stops cleanly removes its row; anything it still holds is released for an
-- immediate retry (its attempt counts).
create function unregister_worker(worker_id text) returns integer
language plpgsql volatile
set search_path from current
as $$
#variable_conflict use_column
declare
    v_count integer;
begin
    update jobs
       set locked_at = null, locked_by = null, run_at = greatest(run_at, pg_catalog.now()),
           last_error = coalesce(last_error, 'worker stopped before the job finished'),
           updated_at = pg_catalog.now()
     where locked_at is not null and locked_by = unregister_worker.worker_id;
    get diagnostics v_count = row_count;
    delete from workers where worker_id = unregister_worker.worker_id;
    if v_count > 0 then
        perform notify_jobs(v_count);
    end if;
    return v_count;
end
$$;

-- settle_jobs: the outcomes of a batch of jobs run by worker_id, in one statement.
--   complete: the job succeeded and is deleted;
--   retry:    the attempt failed; retry at run_at, or after the default backoff when null;
--   cancel:   the job failed for good now (attempts = max_attempts);
--   snooze:   run again at run_at without using an attempt;
--   delete:   the final attempt failed and the job is removed (on_final_failure = delete);
--   release:  the worker gave the job up (shutdown or timeout); retry at run_at or now.
-- Only jobs still locked by worker_id are touched. Returns the ids settled.
create function settle_jobs(
    worker_id text,
    job_ids   bigint[],
    outcomes  text[],
    errors    text[],
    run_ats   timestamptz[],
    now       timestamptz default null
) returns setof bigint
language plpgsql volatile
set search_path from current
as $$
#variable_conflict use_column
declare
    v_now    timestamptz := coalesce(settle_jobs.now, pg_catalog.now());
    v_bad    text;
    v_notify boolean;
begin
    -- Wake the workers when a job comes back, or when a named queue gets a free place.
    v_notify := exists (select 1 from unnest(settle_jobs.outcomes) as o where o <> 'complete')
             or exists (select 1 from jobs j
                         where j.id = any(settle_jobs.job_ids) and j.queue_name is not null
                           and j.locked_by = settle_jobs.worker_id);

    select o into v_bad from unnest(settle_jobs.outcomes) as o
     where o not in ('complete', 'retry', 'cancel', 'snooze', 'delete', 'release') limit 1;
    if found then
        raise exception 'invalid outcome %', v_bad using errcode = '22023';
    end if;

    return query
    with s as (
        select * from unnest(settle_jobs.job_ids, settle_jobs.outcomes, settle_jobs.errors,
                             settle_jobs.run_ats) as s(id, outcome, error, run_at)
    ),
    deleted as (
        delete from jobs j using s
         where j.id = s.id and s.outcome in ('complete', 'delete')
           and j.locked_by = settle_jobs.worker_id
        returning j.id
    ),
    updated as (
        update jobs j
           set last_error = case when s.outcome = 'snooze' then j.last_error else s.error end,
               run_at = case
                   when s.outcome = 'retry' then coalesce(
                       s.run_at,
                       greatest(v_now, j.run_at) + exp(least(j.attempts, 10)) * interval '1 second')
                   when s.outcome in ('snooze', 'release') then coalesce(s.run_at, v_now)
                   else j.run_at end,
               attempts = case
                   when s.outcome = 'cancel' then j.max_attempts
                   when s.outcome = 'snooze' then greatest(j.attempts - 1, 0)
                   else j.attempts end,
               locked_at = null,
               locked_by = null,
               updated_at = pg_catalog.now()
          from s
         where j.id = s.id and s.outcome not in ('complete', 'delete')
           and j.locked_by = settle_jobs.worker_id
        returning j.id
    )
    select id from deleted union all select id from updated;

    if v_notify then
        perform notify_jobs(1);
    end if;
end
$$;

-- rescue_jobs: release the jobs of workers whose heartbeat is older than timeout (or that
-- never registered and locked the job longer ago than that), so another worker retries them
-- at once; the lost attempt counts. One caller at a time does the work (advisory lock);
-- the others return nothing. Workers are notified of the released jobs.
create function rescue_jobs(timeout interval) returns setof jobs
language plpgsql volatile
set search_path from current
as $$
#variable_conflict use_column
declare
    v_cutoff timestamptz := pg_catalog.now() - rescue_jobs.timeout;
    v_count  integer;
begin
    if not pg_try_advisory_xact_lock(1952867693, hashtext(current_schema())) then
        return;
    end if;
    return query
        update jobs j
           set locked_at = null,
               locked_by = null,
               run_at = greatest(j.run_at, pg_catalog.now()),
               last_error = 'worker ' || j.locked_by || ' was lost (no heartbeat for '
                            || rescue_jobs.timeout::text || ') while running this job',
               updated_at = pg_catalog.now()
         where j.locked_at is not null
           and j.locked_by in (
               select w.worker_id from workers w where w.last_heartbeat_at < v_cutoff
               union all
               select distinct l.locked_by from jobs l
                where l.locked_at is not null and l.locked_at < v_cutoff
                  and not exists (select 1 from workers w2 where w2.worker_id = l.locked_by))
        returning j.*;
    get diagnostics v_count = row_count;
    delete from workers w where w.last_heartbeat_at < v_cutoff;
    if v_count > 0 then
        perform notify_jobs(v_count);
    end if;
end
$$;

-- settle_and_fetch: write a batch of outcomes and fetch the next jobs, in one round trip and
-- one commit (the hot path of a busy worker).
create function settle_and_fetch(
    worker_id        text,
    job_ids          bigint[],
    outcomes         text[],
    errors           text[],
    run_ats          timestamptz[],
    max_jobs         integer,
    task_identifiers text[]      default null,
    forbidden_flags  text[]      default null,
    now              timestamptz default null
) returns setof jobs
language plpgsql volatile
set search_path from current
as $$
begin
    if cardinality(settle_and_fetch.job_ids) > 0 then
        perform settle_jobs(settle_and_fetch.worker_id, settle_and_fetch.job_ids,
                            settle_and_fetch.outcomes, settle_and_fetch.errors,
                            settle_and_fetch.run_ats, settle_and_fetch.now);
    end if;
    return query select * from fetch_jobs(settle_and_fetch.worker_id, settle_and_fetch.max_jobs,
                                          settle_and_fetch.task_identifiers,
                                          settle_and_fetch.forbidden_flags, settle_and_fetch.now);
end
$$;
