-- Throughput history for the dashboard: each worker adds, once a minute, how many job runs it
-- settled in that minute as completed and as failed (record_throughput.sql, an additive upsert).
-- The __cleanupOldJobs task prunes rows older than a day (prune_throughput.sql). Pages read
-- the last hour through the primary key, never the jobs table.
create table job_stats (
    minute    timestamptz not null,
    worker_id text        not null,
    completed integer     not null default 0,
    failed    integer     not null default 0,
    primary key (minute, worker_id)
);
