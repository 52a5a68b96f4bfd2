-- The trace context the jobs added next in this transaction record (see migration 0009); ''
-- for none. Transaction-local: it never outlives the transaction.
select pg_catalog.set_config('trigger_compat.trace_context', %(trace_context)s::text, true)
