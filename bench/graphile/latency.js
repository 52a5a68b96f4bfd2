"use strict";
// node latency.js DATABASE_URL SCHEMA COUNT RATE
//
// Adds COUNT jobs of the task "noop" with WorkerUtils.addJob, one every 1/RATE s (one
// transaction each), for a worker started by worker.js in latency mode. Prints
// {"called": {job id: time before addJob}, "committed": {job id: time addJob returned}}
// (seconds, wall clock). One warm-up job first, untimed, like bench/worker.py's W4.

const { makeWorkerUtils } = require("graphile-worker");
const { connection, sharedOptions, now, printJson } = require("./lib");

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const argv = process.argv.slice(2);
  const { url, schema } = connection(argv);
  const count = Number(argv[2] || 100);
  const rate = Number(argv[3] || 50);
  const utils = await makeWorkerUtils(sharedOptions(url, schema));
  const called = {};
  const committed = {};
  try {
    await utils.addJob("noop", {});
    for (let i = 0; i < count; i++) {
      const before = now();
      const job = await utils.addJob("noop", {});
      committed[job.id] = now();
      called[job.id] = before;
      await sleep(1000 / rate);
    }
  } finally {
    await utils.release();
  }
  printJson({ called, committed });
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
