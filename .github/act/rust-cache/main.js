// Restore: copy the saved target/ into the workspace.
"use strict";
const { execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");
const cacheDir = require("./key.js");

try {
  const dir = cacheDir();
  const target = path.join(process.env.GITHUB_WORKSPACE, "target");
  const hit = fs.existsSync(path.join(dir, "target"));
  if (hit) {
    execFileSync("cp", ["-a", "--reflink=auto", path.join(dir, "target"), path.dirname(target) + "/"]);
  }
  fs.appendFileSync(process.env.GITHUB_OUTPUT, `cache-hit=${hit}\n`);
  fs.appendFileSync(process.env.GITHUB_ENV, "CARGO_INCREMENTAL=0\n");
  console.log(`rust-cache (act stand-in): ${hit ? "restored" : "no cache at"} ${dir} (Swatinem/rust-cache)`);
} catch (e) {
  console.log(`::error::rust-cache (act stand-in): ${e.message}`);
  process.exit(1);
}
