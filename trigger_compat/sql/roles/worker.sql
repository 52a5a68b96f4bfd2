-- Worker role: runs jobs (fetch, complete, fail, heartbeat, rescue, cron ticks, cleanup) and
-- may read and write the queue's rows, but owns nothing: no CREATE on the schema, so no DDL
-- (no create, alter or drop), and the bookkeeping tables of migrate() are read-only. Run by
-- the schema owner; {schema} and {role} are quoted identifiers.
revoke execute on all functions in schema {schema} from public;
grant usage on schema {schema} to {role};
grant select, insert, update, delete on all tables in schema {schema} to {role};
revoke insert, update, delete, truncate on {schema}.migrations from {role};
revoke insert, update, delete, truncate on {schema}.migration_functions from {role};
grant usage, select on all sequences in schema {schema} to {role};
grant execute on all functions in schema {schema} to {role};
