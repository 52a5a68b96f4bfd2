-- __cleanupOldJobs: up to max_count permanently failed, unlocked jobs whose run_at is
-- before the expiration date (found, through jobs_failed_idx), and how many of them were
-- deleted (a job re-added under its key or locked meanwhile is left alone).
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
)
select (select count(*) from found) as found, (select count(*) from deleted) as deleted
