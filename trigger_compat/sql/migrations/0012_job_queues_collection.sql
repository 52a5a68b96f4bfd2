-- Permanently failed, unlocked jobs of named queues, by queue. With jobs_queue_ready_idx (the
-- available jobs) and jobs_queue_running_idx (the locked ones) it tells through indexes
-- whether a queue has any job at all, which collect_job_queues asks of every queue row it
-- deletes (job_queues would otherwise keep one row per queue name ever used). New jobs
-- (attempts = 0) never enter it, so adding jobs does not pay for it. `if not exists`: on a
-- large table an operator may build it first with `create index concurrently` (ARCHITECTURE.md,
-- "Changing the schema while old workers run"), and this step then takes no lock.
create index if not exists jobs_queue_failed_idx on jobs (queue_name)
    where attempts >= max_attempts and locked_at is null and queue_name is not null;
