-- Whether this server takes writes: a standby (in recovery) or a read-only session
-- (default_transaction_read_only) can run no worker, whatever its replicated tables say.
select pg_catalog.pg_is_in_recovery() as in_recovery,
       pg_catalog.current_setting('transaction_read_only') = 'on' as read_only
