-- The moved jobs leave the side they came from (a job whose key the other side holds stays).
delete from {jobs} as j
 using pg_temp.graphile_transfer as s
 where j.id = s.src_id
   and not s.key_taken
