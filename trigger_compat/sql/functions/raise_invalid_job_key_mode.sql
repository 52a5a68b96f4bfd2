-- depends: job_key_modes
-- raise_invalid_job_key_mode: the error of an add with an unknown job-key mode (SQLSTATE
-- 22023, the client's InvalidJobError), its hint listing the modes. Called only once
-- job_key_mode_valid() said no.
create or replace function raise_invalid_job_key_mode(mode text) returns void
language plpgsql volatile
set search_path from current
as $$
declare
    v_modes text[] := job_key_modes();
begin
    raise exception 'invalid job_key_mode %', raise_invalid_job_key_mode.mode
        using errcode = '22023',
              hint = 'use ' || array_to_string(v_modes[1:cardinality(v_modes) - 1], ', ')
                     || ' or ' || v_modes[cardinality(v_modes)];
end
$$;
