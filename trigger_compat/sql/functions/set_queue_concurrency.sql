-- set_queue_concurrency: how many jobs of a named queue may run at once, across all workers.
create or replace function set_queue_concurrency(queue_name text, concurrency integer) returns void
language sql volatile
set search_path from current
as $$
    insert into job_queues (queue_name, concurrency)
    values (set_queue_concurrency.queue_name, set_queue_concurrency.concurrency)
    on conflict (queue_name) do update set concurrency = excluded.concurrency
$$;
