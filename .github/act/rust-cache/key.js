// The stand-in's cache directory: XTASK_ACT_CACHE/rust/<key>, the key made
// of shared-key (or the job), the rustc version and Cargo.lock's hash.
"use strict";
const { execFileSync } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

module.exports = function cacheDir() {
  const root = process.env.XTASK_ACT_CACHE;
  if (!root) throw new Error("XTASK_ACT_CACHE is not set: run the workflow through cargo xtask ci act");
  const ws = process.env.GITHUB_WORKSPACE;
  const shared = process.env["INPUT_SHARED-KEY"] || process.env.GITHUB_JOB;
  const rustc = execFileSync("rustc", ["--version"], { cwd: ws }).toString().trim();
  const lock = path.join(ws, "Cargo.lock");
  const h = crypto.createHash("sha256").update(rustc);
  if (fs.existsSync(lock)) h.update(fs.readFileSync(lock));
  return path.join(root, "rust", `${shared}-${h.digest("hex").slice(0, 16)}`);
};
