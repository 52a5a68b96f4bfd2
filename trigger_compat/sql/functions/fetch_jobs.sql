-- fetch_jobs: lock up to max_jobs runnable jobs for worker_id, in priority, run_at, id
-- order. A named queue never has more locked jobs than its concurrency, whatever the
-- number of workers. Needs READ COMMITTED (each statement sees the latest commits).
--
-- Its cost does not grow with the jobs that cannot run:
--   * Jobs without a queue are read per task (jobs_task_fetch_idx), only for the tasks the
--     worker runs. With several tasks, a first look without locks finds the best max_jobs
--     jobs among the heads of the tasks, and then only the tasks those came from are locked,
--     each for as many jobs as it gave (SKIP LOCKED, so a job another worker took meanwhile
--     is replaced by that task's next one). Nothing is locked that is not then handed out.
--     With one task the lock is taken at once.
--   * Named queues are found by a walk of jobs_queue_order_idx (their available jobs in
--     priority, run_at, id order), which stops once max_jobs queues gave jobs: its cost does not
--     grow with the number of queues that have jobs due. The walk is bounded (v_walk entries):
--     when it meets only jobs it cannot take (the backlog of busy or paused queues, other
--     tasks, jobs not due yet), the queues it did not reach are found by a skip scan of
--     jobs_queue_ready_idx instead: one probe per queue that has available jobs, none for a
--     queue whose jobs are all done, running or failed (not every job_queues row ever
--     created). Either way a queue is visited only when it has a free place (its running jobs
--     counted on jobs_queue_running_idx, so a busy queue costs one small probe and no row lock)
--     and a job of the worker's tasks and flags ready now. The count is repeated after the
--     queue row is locked: that count, made under the lock with a fresh snapshot, is what
--     keeps a queue within its concurrency.
--
-- Paused tasks and queues (the paused table: pause_jobs / resume_jobs) are left alone: none of
-- their jobs is handed out. The table is read once per fetch, and only its emptiness when
-- nothing is paused (no cost to speak of); pause_jobs takes an ACCESS EXCLUSIVE lock on it,
-- so it waits for the fetches that read it before the pause and every fetch that starts
-- after the pause commits sees it.
--
-- Its settings:
--   * enable_sort, enable_bitmapscan off: the fetch must walk its partial indexes in order
--     and stop after max_jobs rows, even when the statistics are stale (right after a bulk
--     add) and the planner would otherwise sort every ready row.
--   * jit off: with enable_sort off, a plan that must still sort (the queue heads, the task
--     heads) costs more than jit_above_cost, and compiling it took over a second per call.
--   * plan_cache_mode = force_generic_plan: the statements are planned once per session (the
--     EXPLAIN tests check those plans), not again on every call: with several tasks that
--     planning cost more than the fetch itself.
--   * lock_timeout = 250ms: SKIP LOCKED does not skip everything. Locking a row whose newer
--     version is being changed by another transaction waits for it (PostgreSQL follows the
--     update chain without SKIP LOCKED), so a fetch could wait on a keyed add_jobs that waits
--     on a row the fetch holds: a deadlock, found after deadlock_timeout (1 s), whose victim
--     may be the add. A fetch gives up such a wait after 250 ms (SQLSTATE 55P03, a
--     TransactionConflictError; the worker fetches again), so the add goes through.
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
set jit = off
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
    v_step    record;
    v_walk    integer := least(greatest(200, 4 * fetch_jobs.max_jobs), 1000);  -- its bound
    v_walked  integer := 0;
    v_seen    text[] := '{}';  -- the queues the walk visited
    v_running integer;
    v_got     fetch_candidate[];  -- the jobs locked in one queue
    v_queues  integer := 0;       -- the queues that gave jobs
    v_queued  boolean := false;
    v_heads   text[];     -- the tasks to take unqueued jobs from
    v_takes   integer[];  -- and how many from each
    v_skip_tasks  text[];  -- paused tasks, when the worker runs every task
    v_skip_queues text[];  -- paused queues
begin
    if fetch_jobs.max_jobs is null or fetch_jobs.max_jobs < 1 then
        return;
    end if;

    if exists (select 1 from paused) then
        select array_agg(p.name) filter (where p.kind = 'task'),
               array_agg(p.name) filter (where p.kind = 'queue')
          into v_skip_tasks, v_skip_queues
          from paused p;
        if v_tasks is not null and v_skip_tasks is not null then
            v_tasks := array(select t from unnest(v_tasks) as t
                              where not (t = any(v_skip_tasks)));
            v_skip_tasks := null;
        end if;
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
            select t.task from t where t.task is not null
               and (v_skip_tasks is null or not (t.task = any(v_skip_tasks))));
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

    -- The queues with a job ready now, best head first: a walk of jobs_queue_order_idx. The
    -- first ready job of a queue it meets (due, of the worker's tasks and flags) is that
    -- queue's head, so the queues are visited in the order of their heads, each once: locked
    -- (SKIP LOCKED) if it is not paused and has a free place, then its jobs locked as below.
    -- It stops once max_jobs queues gave jobs (usually after a handful of entries, however
    -- many queues are due), or after v_walk entries.
    for v_step in
        select j.queue_name,
               (j.run_at <= v_now
                and (v_tasks is null or j.task_identifier = any(v_tasks))
                and (v_skip_tasks is null or not (j.task_identifier = any(v_skip_tasks)))
                and (v_flags is null or j.flags is null or not (j.flags ?| v_flags))) as ready
          from jobs j
         where j.is_available and j.queue_name is not null
         order by j.priority, j.run_at, j.id
         limit v_walk
    loop
        v_walked := v_walked + 1;
        continue when v_step.ready is not true or v_step.queue_name = any(v_seen);
        v_seen := v_seen || v_step.queue_name;
        select q.queue_name, q.concurrency into v_queue
          from job_queues q
         where q.queue_name = v_step.queue_name
           and (v_skip_queues is null or not (q.queue_name = any(v_skip_queues)))
           and (select count(*) from jobs r
                 where r.queue_name = q.queue_name and r.locked_at is not null) < q.concurrency
           for update of q skip locked;
        continue when not found;
        select count(*) into v_running from jobs j
         where j.queue_name = v_queue.queue_name and j.locked_at is not null;
        if v_running < v_queue.concurrency then
            v_got := array(
                select row(j.priority, j.run_at, j.id)::fetch_candidate from jobs j
                 where j.queue_name = v_queue.queue_name and j.is_available and j.run_at <= v_now
                   and (v_tasks is null or j.task_identifier = any(v_tasks))
                   and (v_skip_tasks is null or not (j.task_identifier = any(v_skip_tasks)))
                   and (v_flags is null or j.flags is null or not (j.flags ?| v_flags))
                 order by j.priority, j.run_at, j.id
                 limit least(v_queue.concurrency - v_running, fetch_jobs.max_jobs)
                   for update skip locked);
            if cardinality(v_got) > 0 then
                v_queued := true;
                v_cands := v_cands || v_got;
                v_queues := v_queues + 1;
                exit when v_queues >= fetch_jobs.max_jobs;
            end if;
        end if;
    end loop;

    -- When the walk read v_walk entries without max_jobs queues giving jobs, the queues it did
    -- not visit are found by a skip scan of jobs_queue_ready_idx (one probe per queue that
    -- has available jobs: the first entry of a queue holds its earliest run_at), not by
    -- visiting every job_queues row. Their heads all come after the entries the walk read,
    -- so the queues are still visited in the order of their heads. Each is checked for
    -- a ready job of the worker's tasks and flags (the LATERAL probe of
    -- jobs_queue_fetch_idx: the queue's head, in priority, run_at, id order, with a LIMIT,
    -- so that it stays a per-queue probe of the index), and a free place (running jobs
    -- counted on jobs_queue_running_idx). Those probes take no lock; the queues are then
    -- visited best head first, and only until max_jobs of them gave a job: a fetch locks
    -- a handful of queue rows and jobs however many queues are due, not all of them.
    if v_queues < fetch_jobs.max_jobs and v_walked >= v_walk then
        for v_queue in
            select q.queue_name, q.concurrency
              from (with recursive heads(queue_name, run_at) as (
                        (select j.queue_name, j.run_at from jobs j
                          where j.is_available and j.queue_name is not null
                          order by j.queue_name, j.run_at
                          limit 1)
                        union all
                        select n.queue_name, n.run_at
                          from heads h
                         cross join lateral (
                               select j.queue_name, j.run_at from jobs j
                                where j.is_available and j.queue_name is not null
                                  and j.queue_name > h.queue_name
                                order by j.queue_name, j.run_at
                                limit 1) as n)
                    select h.queue_name from heads h where h.run_at <= v_now) as due
              join job_queues q on q.queue_name = due.queue_name
                               and (v_skip_queues is null or not (q.queue_name = any(v_skip_queues)))
                               and not (q.queue_name = any(v_seen))
             cross join lateral (
                   select j.priority, j.run_at, j.id from jobs j
                    where j.queue_name = q.queue_name and j.is_available and j.run_at <= v_now
                      and (v_tasks is null or j.task_identifier = any(v_tasks))
                      and (v_skip_tasks is null or not (j.task_identifier = any(v_skip_tasks)))
                      and (v_flags is null or j.flags is null or not (j.flags ?| v_flags))
                    order by j.priority, j.run_at, j.id
                    limit 1) as ready
             where (select count(*) from jobs r
                     where r.queue_name = q.queue_name and r.locked_at is not null) < q.concurrency
             order by ready.priority, ready.run_at, ready.id
               for update of q skip locked
        loop
            select count(*) into v_running from jobs j
             where j.queue_name = v_queue.queue_name and j.locked_at is not null;
            if v_running < v_queue.concurrency then
                v_got := array(
                    select row(j.priority, j.run_at, j.id)::fetch_candidate from jobs j
                     where j.queue_name = v_queue.queue_name and j.is_available and j.run_at <= v_now
                       and (v_tasks is null or j.task_identifier = any(v_tasks))
                       and (v_skip_tasks is null or not (j.task_identifier = any(v_skip_tasks)))
                       and (v_flags is null or j.flags is null or not (j.flags ?| v_flags))
                     order by j.priority, j.run_at, j.id
                     limit least(v_queue.concurrency - v_running, fetch_jobs.max_jobs)
                       for update skip locked);
                if cardinality(v_got) > 0 then
                    v_queued := true;
                    v_cands := v_cands || v_got;
                    v_queues := v_queues + 1;
                    -- The queues come best head first: the best max_jobs queued jobs are all in
                    -- the first max_jobs queues that give one, so the rest need no lock.
                    exit when v_queues >= fetch_jobs.max_jobs;
                end if;
            end if;
        end loop;
    end if;

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
