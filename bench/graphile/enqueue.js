"use strict";
// node enqueue.js DATABASE_URL SCHEMA MODE COUNT [--warmup N] [--batch N] [--after-id N]
//
// One timed enqueue run of graphile-worker; prints {"mode", "jobs", "seconds", "rows"}.
// MODE single:      COUNT × WorkerUtils.addJob(task, {id}), one transaction each, in turn.
// MODE batch:       COUNT jobs in batches of --batch specs (1,000), one add_jobs call each.
// MODE batch-keyed: the same with a distinct job key on every spec (replace mode).
//
// graphile-worker 0.16 has no addJobs in its JavaScript API (it came in 0.17); its schema has
// the SQL function add_jobs(job_spec[], job_key_preserve_run_at), which a batch calls here in
// one statement, returning the added rows.
//
// Before the clock starts: migrate, warm up (--warmup adds, untimed, so the pool is open and
// the statements prepared), then empty the jobs table (truncate; with --after-id N, delete
// only the rows above N, for a pre-filled table) and take a checkpoint. Inputs are built
// before the clock; the payloads are serialised inside the timed part.

const { makeWorkerUtils } = require("graphile-worker");
const { connection, sharedOptions, ident, payloads, printJson } = require("./lib");

const TASK = "bench_task";

function option(argv, name, fallback) {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
}

async function main() {
  const argv = process.argv.slice(2);
  const { url, schema } = connection(argv);
  const mode = argv[2];
  const count = Number(argv[3]);
  const batchSize = option(argv, "--batch", 1000);
  const warmup = option(argv, "--warmup", mode === "single" ? 200 : 2000);
  const afterId = option(argv, "--after-id", null);
  if (!["single", "batch", "batch-keyed"].includes(mode) || !(count > 0)) {
    throw new Error("MODE is single, batch or batch-keyed; COUNT > 0");
  }
  const s = ident(schema);
  const utils = await makeWorkerUtils(sharedOptions(url, schema));
  try {
    await utils.migrate();
    const addBatch = (specs) =>
      utils.withPgClient((client) =>
        client.query({
          name: `bench_add_jobs_${schema}`,
          text:
            `select * from ${s}.add_jobs(` +
            `(select array_agg(spec) from json_populate_recordset(null::${s}.job_spec, $1::json) spec),` +
            ` false)`,
          values: [JSON.stringify(specs)],
        }),
      );
    const toSpecs = (list, offset) =>
      list.map((payload, i) =>
        mode === "batch-keyed"
          ? { identifier: TASK, payload, job_key: `key:${offset + i}:${payload.id}` }
          : { identifier: TASK, payload },
      );

    // Warm-up, untimed.
    if (mode === "single") {
      for (const payload of payloads(warmup)) {
        await utils.addJob(TASK, payload);
      }
    } else {
      const warm = payloads(warmup);
      for (let i = 0; i < warm.length; i += batchSize) {
        await addBatch(toSpecs(warm.slice(i, i + batchSize), i));
      }
    }
    await utils.withPgClient(async (client) => {
      if (afterId === null) {
        await client.query(`truncate ${s}._private_jobs restart identity`);
      } else {
        await client.query(`delete from ${s}._private_jobs where id > $1`, [afterId]);
        await client.query(`vacuum ${s}._private_jobs`);
      }
      await client.query("checkpoint").catch(() => undefined);
    });

    // Inputs, built before the clock.
    const list = payloads(count);
    const batches = [];
    if (mode !== "single") {
      for (let i = 0; i < count; i += batchSize) {
        batches.push(list.slice(i, i + batchSize).map((p, j) => [p, i + j]));
      }
    }

    let seconds;
    if (mode === "single") {
      const start = performance.now();
      for (const payload of list) {
        await utils.addJob(TASK, payload);
      }
      seconds = (performance.now() - start) / 1000;
    } else {
      const specBatches = batches.map((b) =>
        b.map(([payload, i]) =>
          mode === "batch-keyed"
            ? { identifier: TASK, payload, job_key: `key:${i}:${payload.id}` }
            : { identifier: TASK, payload },
        ),
      );
      const start = performance.now();
      for (const specs of specBatches) {
        await addBatch(specs);
      }
      seconds = (performance.now() - start) / 1000;
    }

    const { rows } = await utils.withPgClient((client) =>
      client.query(
        `select count(*)::int as n from ${s}._private_jobs where id > $1`,
        [afterId === null ? 0 : afterId],
      ),
    );
    if (rows[0].n !== count) {
      throw new Error(`expected ${count} new rows, found ${rows[0].n}`);
    }
    printJson({ mode, jobs: count, seconds, rows: rows[0].n });
  } finally {
    await utils.release();
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
