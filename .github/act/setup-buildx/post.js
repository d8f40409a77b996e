// Release the run's builder lock taken by main.js (whatever the job's result).
"use strict";
const fs = require("fs");

const lock = process.env.STATE_lock;
if (lock && fs.existsSync(lock)) {
  fs.rmSync(lock, { recursive: true, force: true });
  console.log("setup-buildx (act stand-in): builder released");
}
