-- flags_object: a job's flags as stored, {"flag": true, ...}, or null for no flags.
create or replace function flags_object(flags text[]) returns jsonb
language sql immutable
as $$
    select case when flags is null or cardinality(flags) = 0 then null
                else (select jsonb_object_agg(f, true) from unnest(flags) as f) end
$$;
