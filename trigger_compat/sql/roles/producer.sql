-- Producer role: may add jobs and nothing else. Run by the schema owner (the role that ran
-- the migrations); {schema} and {role} are quoted identifiers.
--
-- add_job, add_jobs and add_unique_jobs become SECURITY DEFINER: they run with the owner's
-- rights, so the producer needs no privilege on the tables at all (no SELECT, INSERT, UPDATE or
-- DELETE on jobs or unique_keys, no USAGE on the jobs' identity). Their search_path is pinned to the schema (set search_path from current), so a
-- caller cannot substitute objects of its own. EXECUTE on every function of the schema is
-- revoked from PUBLIC (PostgreSQL grants it by default), so only granted roles can call them.
alter function {schema}.add_job(text, jsonb, text, timestamptz, integer, text, integer, text[],
                                 text, timestamptz, boolean) security definer;
alter function {schema}.add_jobs(text[], jsonb[], text[], timestamptz[], integer[], text[],
                                  integer[], jsonb[], text[], boolean, timestamptz)
    security definer;
revoke execute on all functions in schema {schema} from public;
grant usage on schema {schema} to {role};
grant execute on function
    {schema}.add_job(text, jsonb, text, timestamptz, integer, text, integer, text[], text,
                     timestamptz, boolean),
    {schema}.add_jobs(text[], jsonb[], text[], timestamptz[], integer[], text[], integer[],
                      jsonb[], text[], boolean, timestamptz)
    to {role};
-- add_unique_jobs (unique jobs) likewise, when the schema has it: a schema migrated by an
-- older release does not, and gets it (with these rights: run this again) when upgraded.
select pg_catalog.set_config('trigger_compat.grant_schema', {schema_literal}, false),
       pg_catalog.set_config('trigger_compat.grant_role', {role_literal}, false);
do $grant$
declare
    v_fn text := format('%I.add_unique_jobs(text[], jsonb[], text[], timestamptz[], integer[], '
                        'integer[], jsonb[], text[], integer[], text[], timestamptz)',
                        current_setting('trigger_compat.grant_schema'));
begin
    if to_regprocedure(v_fn) is not null then
        execute format('alter function %s security definer', v_fn);
        execute format('grant execute on function %s to %I', v_fn,
                       current_setting('trigger_compat.grant_role'));
    end if;
end
$grant$;
reset trigger_compat.grant_schema;
reset trigger_compat.grant_role;
