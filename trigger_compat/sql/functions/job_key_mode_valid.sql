-- depends: job_key_modes
-- job_key_mode_valid: whether mode is a job-key mode (null for null). Inlined where it is
-- called, so checking every spec of a large add_jobs batch costs no function call.
create or replace function job_key_mode_valid(mode text) returns boolean
language sql immutable
as $$
    select job_key_mode_valid.mode = any(job_key_modes())
$$;
