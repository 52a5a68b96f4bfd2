"use strict";
// node worker.js DATABASE_URL SCHEMA CONCURRENCY MODE
//
// One graphile-worker runner (run(), a pool of CONCURRENCY workers, LISTEN/NOTIFY) with a
// no-op task "noop". Prints "ready" once its LISTEN connection is known to receive
// notifications, runs until its standard input closes, stops gracefully and prints
// {"starts": {job id: handler start time (s)}} (MODE latency) or {"starts": {}} (MODE drain).
//
// Settings: graphile-worker's defaults (maxPoolSize 10, prepared statements, no cron items),
// except concurrency (CONCURRENCY, default 1), pollInterval 1000 ms (default 2000; the
// trigger-compat workers of the bench poll every second) and a logger that prints errors and
// warnings only (the default prints a line per completed job).

const { run, makeWorkerUtils } = require("graphile-worker");
const { EventEmitter } = require("node:events");
const { connection, sharedOptions, now, printJson } = require("./lib");

async function main() {
  const argv = process.argv.slice(2);
  const { url, schema } = connection(argv);
  const concurrency = Number(argv[2] || 10);
  const mode = argv[3] || "drain";
  const starts = {};
  const noop =
    mode === "latency"
      ? async (_payload, helpers) => {
          starts[helpers.job.id] = now();
        }
      : async () => undefined;

  const events = new EventEmitter();
  const token = `ready:${process.pid}:${Math.random()}`;
  const listening = new Promise((resolve) => {
    events.on("pool:listen:notification", ({ message }) => {
      if (message.payload && message.payload.includes(token)) {
        resolve();
      }
    });
  });
  const listenClient = new Promise((resolve) => events.once("pool:listen:success", resolve));

  const runner = await run({
    ...sharedOptions(url, schema),
    concurrency,
    pollInterval: 1000,
    noHandleSignals: true,
    taskList: { noop },
    parsedCronItems: [],
    events,
  });
  // The LISTEN statement goes out right after pool:listen:success; a notification sent
  // from another connection once it is there proves that it has been executed. count 0
  // nudges no worker.
  await listenClient;
  const utils = await makeWorkerUtils(sharedOptions(url, schema));
  let seen = false;
  listening.then(() => {
    seen = true;
  });
  while (!seen) {
    await utils.withPgClient((client) =>
      client.query("select pg_notify('jobs:insert', $1)", [JSON.stringify({ count: 0, token })]),
    );
    await Promise.race([listening, new Promise((r) => setTimeout(r, 50))]);
  }
  await utils.release();
  process.stdout.write("ready\n");

  process.stdin.resume();
  await new Promise((resolve) => process.stdin.on("end", resolve));
  await runner.stop();
  printJson({ starts });
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
