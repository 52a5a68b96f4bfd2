-- __cleanupOldJobs: up to max_count permanently failed, unlocked jobs whose run_at is
-- before the expiration date (found, through jobs_failed_idx), and how many of them were
-- deleted (a job re-added under its key or locked meanwhile is left alone). Also prunes up to
-- max_count unique keys that no longer hold (see functions/add_unique_jobs.sql): those whose
-- period ended (through unique_keys_expires_idx), and those without a period whose job is gone.
with found as (
    select id
      from {schema}.jobs
     where attempts >= max_attempts and locked_at is null and run_at < %(expiration)s
     order by run_at
     limit %(max_count)s
),
deleted as (
    delete from {schema}.jobs j
     using found f
     where j.id = f.id and j.attempts >= j.max_attempts and j.locked_at is null
    returning j.id
),
lapsed as (
    delete from {schema}.unique_keys u
     where u.key_hash in (
           (select k.key_hash from {schema}.unique_keys k
             where k.expires_at < now() order by k.expires_at limit %(max_count)s)
           union all
           (select k.key_hash from {schema}.unique_keys k
             where k.expires_at is null
               and not exists (select 1 from {schema}.jobs j where j.id = k.job_id)
             limit %(max_count)s))
)
select (select count(*) from found) as found, (select count(*) from deleted) as deleted
