-- Available jobs of named queues in the order fetch_jobs hands jobs out (priority, run_at, id):
-- fetch_jobs walks it to find the queues whose next job comes first, so its cost does not grow
-- with the number of queues that have jobs due (it stops after max_jobs queues gave jobs; see
-- functions/fetch_jobs.sql for the bound on the walk). Same predicate as jobs_queue_fetch_idx.
-- `if not exists`: on a large table an operator may build it first with
-- `create index concurrently` (ARCHITECTURE.md, "Changing the schema while old workers run"),
-- and this step then takes no lock.
create index if not exists jobs_queue_order_idx on jobs (priority, run_at, id)
    where is_available and queue_name is not null;
