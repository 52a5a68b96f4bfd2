-- register_crontabs: identifiers not seen before are recorded as known since "now" (they get
-- no backfill); returns the row of every given identifier.
create or replace function register_crontabs(identifiers text[], now timestamptz default null)
returns setof known_crontabs
language plpgsql volatile
set search_path from current
as $$
#variable_conflict use_column
begin
    insert into known_crontabs (identifier, known_since)
    select distinct i, coalesce(register_crontabs.now, pg_catalog.now())
      from unnest(register_crontabs.identifiers) as i
     order by 1
    on conflict (identifier) do nothing;
    return query
        select * from known_crontabs where identifier = any (register_crontabs.identifiers);
end
$$;
