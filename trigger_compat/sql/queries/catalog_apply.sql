select * from {schema}.apply_catalog(
    %(queue_names)s::text[], %(limits)s::integer[], %(crontabs)s::text[],
    %(schedules)s::text[], %(keep)s::text[], %(now)s::timestamptz)
