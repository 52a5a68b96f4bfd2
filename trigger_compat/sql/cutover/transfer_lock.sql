-- Hold the jobs table of the side jobs leave until the transfer commits: its workers cannot
-- take, finish or fail a job meanwhile, nor its producers add one (they wait), so the jobs
-- counted, checked and moved are exactly the ones there. Readers are not blocked.
lock table {jobs} in share row exclusive mode
