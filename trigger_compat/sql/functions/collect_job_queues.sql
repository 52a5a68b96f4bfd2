-- collect_job_queues: delete up to max_count job_queues rows of queues that have no job at
-- all (available, running or failed) and the default concurrency (1: a row add_job would
-- create again as it was), and return how many were deleted (-1: the lock was not granted). job_queues otherwise keeps one
-- row per queue name ever used (one per delivery when a queue is named after an entity).
--
-- A concurrent add never loses its queue row. add_job, add_jobs and add_unique_jobs (and the
-- catalog's update of pending jobs) insert the queue row, ON CONFLICT DO NOTHING, in the
-- transaction that adds the job: they hold a ROW EXCLUSIVE lock on job_queues until they
-- commit, and take no row lock (a naive DELETE of the queues without jobs would miss a job
-- an uncommitted add has just inserted, and delete the row that job needs: fetch_jobs only
-- hands out queued jobs whose queue row exists). So the deletion first takes SHARE ROW
-- EXCLUSIVE on job_queues, which waits for every transaction that touched job_queues to
-- end and keeps new ones from touching it until this one commits, and only then looks
-- again, with a snapshot taken after the lock, for jobs of the candidate queues: every add
-- that could have used one of them has committed by then, and its job is seen. An add that
-- comes after waits for the lock and then inserts the row again. Fetches (FOR UPDATE of a
-- queue row, a ROW SHARE lock) do not conflict with it.
--
-- The candidates are found first, without the lock. The lock is held only for the
-- deletion of at most max_count rows (three index probes each) and released at commit:
-- call it in its own short transaction. It waits at most lock_timeout_ms for the lock (adds
-- that start meanwhile wait behind it) and returns -1 without deleting anything when that
-- is not enough (a long transaction that added to a queue), so maintenance never stalls
-- producers for long. Needs READ COMMITTED (the look after the lock needs a new snapshot).
create or replace function collect_job_queues(
    max_count       integer default 1000,
    lock_timeout_ms integer default 100
) returns integer
language plpgsql volatile
set search_path from current
set lock_timeout = '100ms'
as $$
declare
    v_names   text[];
    v_deleted integer := 0;
begin
    if pg_catalog.current_setting('transaction_isolation') <> 'read committed' then
        raise exception 'collect_job_queues needs READ COMMITTED (got %)',
            pg_catalog.current_setting('transaction_isolation')
            using errcode = '25001',
                  hint = 'call it in its own transaction at the default isolation level';
    end if;
    if collect_job_queues.max_count is null or collect_job_queues.max_count < 1 then
        return 0;
    end if;

    v_names := array(
        select q.queue_name from job_queues q
         where q.concurrency = 1
           and not exists (select 1 from jobs j
                            where j.queue_name = q.queue_name and j.is_available)
           and not exists (select 1 from jobs j
                            where j.queue_name = q.queue_name and j.locked_at is not null)
           and not exists (select 1 from jobs j
                            where j.queue_name = q.queue_name
                              and j.attempts >= j.max_attempts and j.locked_at is null)
         limit collect_job_queues.max_count);
    if cardinality(v_names) = 0 then
        return 0;
    end if;

    perform pg_catalog.set_config(
        'lock_timeout', greatest(coalesce(collect_job_queues.lock_timeout_ms, 100), 1) || 'ms',
        true);
    begin
        lock table job_queues in share row exclusive mode;
        -- A new statement, so a new snapshot: it sees the jobs of every add that held the
        -- table before the lock was granted.
        delete from job_queues q
         where q.queue_name = any(v_names)
           and q.concurrency = 1
           and not exists (select 1 from jobs j
                            where j.queue_name = q.queue_name and j.is_available)
           and not exists (select 1 from jobs j
                            where j.queue_name = q.queue_name and j.locked_at is not null)
           and not exists (select 1 from jobs j
                            where j.queue_name = q.queue_name
                              and j.attempts >= j.max_attempts and j.locked_at is null);
        get diagnostics v_deleted = row_count;
    exception when lock_not_available then
        return -1;
    end;
    return v_deleted;
end
$$;
