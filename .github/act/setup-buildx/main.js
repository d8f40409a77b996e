// Wait for the run's builder lock, then select xtask-e2e for the job.
"use strict";
const { execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const BUILDER = process.env.XTASK_ACT_BUILDER;
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function main() {
  const run = process.env.XTASK_ACT_RUN;
  if (!run || !BUILDER) throw new Error("XTASK_ACT_RUN or XTASK_ACT_BUILDER is not set: run the workflow through cargo xtask ci act");
  const lock = path.join(run, "builder.lock");
  const me = `${process.env.GITHUB_JOB} ${process.env.GITHUB_WORKSPACE}`;
  let said = false;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, "holder"), me);
      break;
    } catch (e) {
      if (e.code !== "EEXIST") throw e;
      if (!said) {
        let holder = "";
        try { holder = fs.readFileSync(path.join(lock, "holder"), "utf8"); } catch (_) {}
        console.log(`setup-buildx (act stand-in): waiting for the builder (held by ${holder}): one build job at a time on this host`);
        said = true;
      }
      sleep(2000);
    }
  }
  fs.appendFileSync(process.env.GITHUB_STATE, `lock=${lock}\n`);
  try {
    execFileSync("docker", ["buildx", "inspect", "--bootstrap", BUILDER], { stdio: "inherit" });
  } catch (e) {
    throw new Error(`no builder ${BUILDER}: cargo xtask ci act makes it (from the BuildKit image cargo xtask e2e builds)`);
  }
  fs.appendFileSync(process.env.GITHUB_ENV, `BUILDX_BUILDER=${BUILDER}\n`);
  fs.appendFileSync(process.env.GITHUB_OUTPUT, `name=${BUILDER}\n`);
  console.log(`setup-buildx (act stand-in): builder ${BUILDER} (docker/setup-buildx-action)`);
}

try {
  main();
} catch (e) {
  console.log(`::error::setup-buildx (act stand-in): ${e.message}`);
  process.exit(1);
}
