-- A fetch whose cost does not grow with the jobs that cannot run.
--
-- Jobs without a queue: they are now indexed per task (jobs_task_fetch_idx replaces
-- jobs_fetch_idx), and a fetch reads only the tasks the worker runs. Before, it walked one
-- index of every ready job in priority order and skipped those of other tasks one by one:
-- a backlog of a task no running worker handles (a worker type that is stopped, or behind)
-- slowed every other worker's fetch. Now, with several tasks, a first look without locks
-- finds the best max_jobs jobs among the heads of the tasks, and then only the tasks those
-- came from are locked, each for as many jobs as it gave (SKIP LOCKED, so a job another
-- worker took meanwhile is replaced by that task's next one). Nothing is locked that is not
-- then handed out. With one task the lock is taken at once.
--
-- Named queues: fetch_jobs visits the job_queues rows. Before, for each one it looked for a
-- ready job by walking the queue's available jobs in priority order (scheduled ones
-- included) and locked the queue row before counting its running jobs. Now a queue is
-- visited only when
--   * it has a free place: its running jobs are counted on jobs_queue_running_idx (which
--     holds only locked jobs), so a busy queue costs one small probe and no row lock; and
--   * it has a job that is ready now: one range probe of jobs_queue_ready_idx, ordered by
--     run_at, so jobs scheduled later are never read.
-- The count is repeated after the queue row is locked, as before: that count, made under
-- the lock with a fresh snapshot, is what keeps a queue within its concurrency.
--
-- plan_cache_mode: the function's statements are planned once per session (generic plans;
-- the EXPLAIN tests check them), not again on every call: with several tasks that planning
-- cost more than the fetch itself.
--
-- lock_timeout: SKIP LOCKED does not skip everything. Locking a row whose newer version is
-- being changed by another transaction waits for it (PostgreSQL follows the update chain
-- without SKIP LOCKED), so a fetch could wait on a keyed add_jobs that waits on a row the
-- fetch holds: a deadlock, found after deadlock_timeout (1 s), whose victim may be the
-- add. A fetch now gives up such a wait after 250 ms (SQLSTATE 55P03, a
-- TransactionConflictError; the worker fetches again), so the add goes through.

create index jobs_task_fetch_idx on jobs (task_identifier, priority, run_at, id)
    where is_available and queue_name is null;
drop index jobs_fetch_idx;

create index jobs_queue_ready_idx on jobs (queue_name, run_at)
    where is_available and queue_name is not null;

create or replace function fetch_jobs(
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
set lock_timeout = '250ms'
set plan_cache_mode = force_generic_plan
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
    v_heads   text[];     -- the tasks to take unqueued jobs from
    v_takes   integer[];  -- and how many from each
begin
    if fetch_jobs.max_jobs is null or fetch_jobs.max_jobs < 1 then
        return;
    end if;

    v_heads := v_tasks;
    if v_heads is null then
        -- Every task that has an available job without a queue (a skip scan of the index).
        v_heads := array(
            with recursive t(task) as (
                (select j.task_identifier from jobs j
                  where j.is_available and j.queue_name is null
                  order by j.task_identifier limit 1)
                union all
                select (select j.task_identifier from jobs j
                         where j.is_available and j.queue_name is null
                           and j.task_identifier > t.task
                         order by j.task_identifier limit 1)
                  from t where t.task is not null)
            select t.task from t where t.task is not null);
    end if;

    -- How many jobs to take from each task: all of them from the only one, else the share
    -- each task has among the best max_jobs ready heads (read without locks).
    if cardinality(v_heads) = 1 then
        v_takes := array[fetch_jobs.max_jobs];
    elsif cardinality(v_heads) > 1 then
        select coalesce(array_agg(b.task), '{}'), coalesce(array_agg(b.n), '{}')
          into v_heads, v_takes
          from (select h.task, count(*)::integer as n
                  from (select t.task, c.priority, c.run_at, c.id
                          from unnest(v_heads) as t(task)
                         cross join lateral (
                               select j.priority, j.run_at, j.id from jobs j
                                where j.task_identifier = t.task and j.is_available
                                  and j.queue_name is null and j.run_at <= v_now
                                  and (v_flags is null or j.flags is null
                                       or not (j.flags ?| v_flags))
                                order by j.priority, j.run_at, j.id
                                limit fetch_jobs.max_jobs) as c
                         order by c.priority, c.run_at, c.id
                         limit fetch_jobs.max_jobs) as h
                 group by h.task) as b;
    end if;

    select coalesce(array_agg(row(c.priority, c.run_at, c.id)::fetch_candidate), '{}')
      into v_cands
      from unnest(v_heads, v_takes) as t(task, n)
     cross join lateral (
           select j.priority, j.run_at, j.id from jobs j
            where j.task_identifier = t.task and j.is_available and j.queue_name is null
              and j.run_at <= v_now
              and (v_flags is null or j.flags is null or not (j.flags ?| v_flags))
            order by j.priority, j.run_at, j.id
            limit t.n
              for update skip locked) as c;

    -- The ready probe is a LATERAL subquery ordered by run_at with a LIMIT, not an EXISTS:
    -- that keeps it a per-queue probe of jobs_queue_ready_idx (an EXISTS may become a merge
    -- join over the whole index, and an unordered LIMIT 1 a sequential scan).
    for v_queue in
        select q.queue_name, q.concurrency from job_queues q
         cross join lateral (
               select 1 from jobs j
                where j.queue_name = q.queue_name and j.is_available and j.run_at <= v_now
                  and (v_tasks is null or j.task_identifier = any(v_tasks))
                  and (v_flags is null or j.flags is null or not (j.flags ?| v_flags))
                order by j.run_at
                limit 1) as ready
         where (select count(*) from jobs r
                 where r.queue_name = q.queue_name and r.locked_at is not null) < q.concurrency
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

    if v_queued or cardinality(v_heads) > 1 then
        -- Merge the candidates of every task and queue and keep the best max_jobs.
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
