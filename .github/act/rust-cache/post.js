// Save: the workspace's target/ replaces the saved one, when the job passed
// and save-if is true (a failed job's build is not saved, as rust-cache).
"use strict";
const { execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");
const cacheDir = require("./key.js");

try {
  const dir = cacheDir();
  const target = path.join(process.env.GITHUB_WORKSPACE, "target");
  if ((process.env["INPUT_SAVE-IF"] || "true") !== "true") {
    console.log("rust-cache (act stand-in): save-if is not true: not saved");
  } else if (!fs.existsSync(target)) {
    console.log("rust-cache (act stand-in): no target/ to save");
  } else {
    const tmp = `${dir}.tmp`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    execFileSync("cp", ["-a", "--reflink=auto", target, tmp + "/"]);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
    console.log(`rust-cache (act stand-in): saved target/ to ${dir}`);
  }
} catch (e) {
  console.log(`::error::rust-cache (act stand-in): ${e.message}`);
  process.exit(1);
}
