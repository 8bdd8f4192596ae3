// A worker for core/ggui/_warm_worker_test.ts: answers {echo, slowMs} after
// slowMs, tagging each answer with this worker's id; throws on {fail}; its
// set-up takes the init message's `setUpMs` (as esbuild's WASM set-up does).
import { serveJobs } from "../core/ggui/_warm_worker.ts";

const me = crypto.randomUUID();
serveJobs(async (job: { echo: unknown; slowMs?: number; fail?: boolean }) => {
  if (job.fail) throw new Error("asked to fail");
  if (job.slowMs) await new Promise((r) => setTimeout(r, job.slowMs));
  return { echo: job.echo, worker: me };
}, async (init) => {
  const ms = init.setUpMs;
  if (typeof ms === "number") await new Promise((r) => setTimeout(r, ms));
});
