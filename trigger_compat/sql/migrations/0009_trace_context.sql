-- The trace context of the span that added a job (the W3C traceparent, and tracestate and
-- baggage when there are any, as a JSON object of their header values), for the span of its
-- run to continue the trace (trigger_compat.tracing). Null for a job added without tracing.
--
-- The column takes it from the transaction-local setting trigger_compat.trace_context, which
-- the client sets around the add only while a span is being recorded: add_job and add_jobs
-- keep their signatures, and an add without tracing costs nothing more. current_setting is
-- stable, so the column is added without rewriting the table.
alter table jobs add column trace_context jsonb
    default nullif(pg_catalog.current_setting('trigger_compat.trace_context', true), '')::jsonb;
