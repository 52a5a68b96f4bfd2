-- render_template: a catalog template (queueName) rendered from a payload, as
-- trigger_compat.core.templates.Template.render renders it. ``parts`` is a JSON array whose
-- elements are literal strings or arrays of path segments (["event", "id"]); a null
-- ``parts`` renders null. Strings render as they are, integral numbers without a fraction,
-- booleans as true/false; a missing or null field, an object or an array renders the whole
-- template null (where Python raises).
create or replace function render_template(parts jsonb, payload jsonb) returns text
language sql immutable parallel safe
as $$
    select case when bool_or(v is null) then null else string_agg(v, '' order by n) end
      from (
        select p.n,
               case jsonb_typeof(p.part)
                 when 'string' then p.part #>> '{}'
                 when 'array' then (
                   select case jsonb_typeof(f)
                            when 'string' then f #>> '{}'
                            when 'boolean' then f #>> '{}'
                            when 'number' then
                              case when f::text::numeric = trunc(f::text::numeric)
                                   then trunc(f::text::numeric)::text
                                   else f::text end
                          end
                     from (select payload #> array(select jsonb_array_elements_text(p.part)) as f) as l)
               end as v
          from jsonb_array_elements(parts) with ordinality as p(part, n)
      ) as r
     where parts is not null
$$;
