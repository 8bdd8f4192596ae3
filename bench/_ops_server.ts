// One of the operations-stack benchmark apps (bench/_ops_apps.ts) on
// Deno.serve, for load.ts to drive with wrk.
// Usage: deno run -A bench/_ops_server.ts <bare|stack>
import { bareApp, stackedApp } from "./_ops_apps.ts";

const app = Deno.args[0] === "stack" ? stackedApp() : bareApp();
Deno.serve({
  port: 0,
  hostname: "127.0.0.1",
  onListen: ({ port }) => console.log(`listening on http://127.0.0.1:${port}`),
}, app.fetch);
