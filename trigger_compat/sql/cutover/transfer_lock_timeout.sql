-- How long the transfer waits for the lock on the jobs table before giving up (this
-- transaction only).
select pg_catalog.set_config('lock_timeout', %(lock_timeout)s, true)
