-- Mark the staged jobs whose key a job of the receiving side already holds.
update pg_temp.graphile_transfer as s
   set key_taken = true
  from {jobs} as j
 where s.key is not null
   and j.key = s.key
