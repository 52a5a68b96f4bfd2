-- Wake the receiving side's idle workers (trigger-compat's channel, or graphile-worker's
-- 'jobs:insert'); sent when the transaction commits.
select pg_catalog.pg_notify(%(channel)s, %(payload)s)
