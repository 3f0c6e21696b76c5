// Start a NocoDB server for the integration tests (see tests/integration/nocodb_service.py).
//
//   NOCODB_HOME=<install folder> NC_TOOL_DIR=<existing folder> PORT=<port> node launch.cjs
//
// NocoDB is resolved from NOCODB_HOME (the cached install, outside the repo), so this file can
// stay in the repository. It listens on 127.0.0.1 only; the SQLite metadata lives in NC_TOOL_DIR.
"use strict";
const path = require("path");
const { createRequire } = require("module");

const home = process.env.NOCODB_HOME;
const port = Number(process.env.PORT);
if (!home || !port || !process.env.NC_TOOL_DIR) {
  console.error("launch.cjs needs NOCODB_HOME, PORT and NC_TOOL_DIR");
  process.exit(2);
}
const load = createRequire(path.join(home, "package.json"));
const express = load("express");
const { Noco } = load("nocodb");

(async () => {
  const app = express();
  const server = app.listen(port, "127.0.0.1");
  app.use(await Noco.init({}, server, app));
  console.log(`nocodb-ready http://127.0.0.1:${port}`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
