-- depends: notify_jobs
-- pause_jobs: pause (pause = true) or resume (false) tasks and named queues; kind is 'task'
-- or 'queue'. Returns the names whose state changed. Jobs of a paused task or queue still
-- enqueue; fetch_jobs hands none of them out. The ACCESS EXCLUSIVE lock on paused waits for
-- the fetches that read it before (they hold ACCESS SHARE until they commit), so once a pause
-- has committed no fetch that missed it is still running: no job of a paused task or queue
-- starts after pause_jobs returns. A resume wakes the workers (their jobs may be waiting).
create or replace function pause_jobs(
    kind   text,
    names  text[],
    pause  boolean
) returns setof text
language plpgsql volatile
set search_path from current
as $$
#variable_conflict use_column
begin
    if pause_jobs.kind is null or pause_jobs.kind not in ('task', 'queue') then
        raise exception 'kind must be task or queue (got %)', pause_jobs.kind
            using errcode = '22023';
    end if;
    if pause_jobs.pause then
        lock table paused in access exclusive mode;
        return query
            insert into paused as p (kind, name)
            select distinct pause_jobs.kind, n from unnest(pause_jobs.names) as n
             where n is not null
             order by 2
            on conflict do nothing
            returning p.name;
    else
        return query
            delete from paused p
             where p.kind = pause_jobs.kind and p.name = any(pause_jobs.names)
            returning p.name;
        if found then
            perform notify_jobs(1);
        end if;
    end if;
end
$$;
