-- migrate(): how long a statement waits for a lock before the transaction is tried again.
select pg_catalog.set_config('lock_timeout', %(timeout)s, true)
