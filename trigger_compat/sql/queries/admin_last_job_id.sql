-- The last id the jobs table's identity sequence handed out (null before the first job): how
-- many jobs were ever added, for the rates of `status --watch`.
select pg_catalog.pg_sequence_last_value(
           pg_catalog.pg_get_serial_sequence(
               pg_catalog.quote_ident(%(schema_name)s) || '.jobs', 'id')::regclass) as last_id
