"""Cut-over from a live graphile-worker deployment (trigger.dev v2) without a stop.

* ``face``: a schema whose functions answer graphile-worker's calls (``add_job``,
  ``remove_job``, …) with trigger-compat's jobs, so unmodified TypeScript producers enqueue
  straight into trigger-compat;
* ``transfer``: moving pending jobs (and cron positions) out of a graphile-worker schema into
  trigger-compat, and back again for a roll-back.
"""
