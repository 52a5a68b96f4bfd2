-- heartbeat: a worker registers itself, then refreshes last_heartbeat_at every few seconds.
create or replace function heartbeat(
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
