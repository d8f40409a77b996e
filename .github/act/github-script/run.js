// The stand-in's runner: the script as the body of an async function of
// (core, require, process), as actions/github-script calls it.
"use strict";
const fs = require("fs");
const append = (file, key, value) => {
  if (!file) throw new Error(`${key}: the runner's file variable is not set`);
  const v = String(value);
  const delim = `ghadelim_${process.pid}_${Date.now()}`;
  fs.appendFileSync(file, `${key}<<${delim}\n${v}\n${delim}\n`);
};
let failed = false;
const core = {
  exportVariable: (k, v) => { process.env[k] = String(v); append(process.env.GITHUB_ENV, k, v); },
  setOutput: (k, v) => append(process.env.GITHUB_OUTPUT, k, v),
  setSecret: (v) => console.log(`::add-mask::${v}`),
  info: (m) => console.log(m),
  warning: (m) => console.log(`::warning::${m}`),
  setFailed: (m) => { failed = true; console.log(`::error::${m}`); },
};
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction("core", "require", "process", process.env.INPUT_SCRIPT)(core, require, process)
  .then(() => {
    console.log("github-script (act stand-in): the script ran (actions/github-script)");
    process.exit(failed ? 1 : 0);
  })
  .catch((e) => {
    console.log(`::error::github-script (act stand-in): ${e && e.stack ? e.stack : e}`);
    process.exit(1);
  });
