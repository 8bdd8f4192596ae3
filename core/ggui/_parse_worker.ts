// Runs the parser gates of parse.ts off the server's event loop for large
// inputs, as a warm worker (see _warm_worker.ts).
import { blueprintCodeGates, gadgetCodeGates } from "./parse.ts";
import type { BlueprintManifest, GadgetManifest } from "./manifest.ts";
import { serveJobs } from "./_warm_worker.ts";

serveJobs((job: { kind: "gadget" | "blueprint"; manifest: unknown; bundle?: string }) =>
  job.kind === "gadget"
    ? gadgetCodeGates(job.manifest as GadgetManifest, job.bundle ?? "")
    : blueprintCodeGates(job.manifest as BlueprintManifest)
);
