-- A producer role may call the face's graphile-worker functions and nothing else: usage of
-- the face schema, EXECUTE on its functions and SELECT on its migrations view (which the
-- webapp's start-up migration check reads); no privilege on the trigger-compat schema,
-- which the face's SECURITY DEFINER functions reach with their owner's rights.
-- {face} and {role}: quoted identifiers.
grant usage on schema {face} to {role};
grant execute on function
    {face}.add_job(text, json, text, timestamptz, integer, text, integer, text[], text),
    {face}.add_jobs({face}.job_spec[], boolean),
    {face}.remove_job(text),
    {face}.complete_jobs(bigint[]),
    {face}.permanently_fail_jobs(bigint[], text),
    {face}.reschedule_jobs(bigint[], timestamptz, integer, integer, integer),
    {face}.force_unlock_workers(text[])
    to {role};
grant select on {face}.migrations to {role};
