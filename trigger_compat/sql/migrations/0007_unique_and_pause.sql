-- Unique jobs and paused tasks or queues.

-- One row per unique key in use (see trigger_compat.core.unique): the SHA-256 of the key
-- (with its period), the job that holds it, and when the key lapses (the end of its
-- byPeriod; null without one: it holds while its job is in one of the byState states). It
-- outlives its job, so a key holds within its period after the job completed and was
-- deleted. add_unique_jobs takes a key over when its job no longer blocks; rows whose period
-- ended, or whose job is gone without a period, are pruned by prune_unique_keys.
create table unique_keys (
    key_hash   bytea primary key,
    job_id     bigint      not null,
    expires_at timestamptz
);
create index unique_keys_expires_idx on unique_keys (expires_at) where expires_at is not null;

-- The paused tasks (kind 'task') and named queues (kind 'queue'): fetch_jobs hands out none
-- of their jobs. Consulted by fetch only when not empty.
create table paused (
    kind      text        not null constraint paused_kind_check check (kind in ('task', 'queue')),
    name      text        not null
        constraint paused_name_check check (length(name) between 1 and 128),
    paused_at timestamptz not null default now(),
    primary key (kind, name)
);
