-- job_key_modes: the job-key modes add_job and add_jobs accept (graphile-worker's), the one
-- list. language sql and immutable: a caller's check folds into a constant array.
create or replace function job_key_modes() returns text[]
language sql immutable
as $$
    select array['replace', 'preserve_run_at', 'unsafe_dedupe']
$$;
