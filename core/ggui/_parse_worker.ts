// Runs the parser gates of parse.ts off the server's event loop for large
// inputs: one message in ({kind, manifest, bundle}), one list of errors out.
import { blueprintCodeGates, gadgetCodeGates } from "./parse.ts";
import type { BlueprintManifest, GadgetManifest } from "./manifest.ts";

interface Request {
  kind: "gadget" | "blueprint";
  manifest: GadgetManifest | BlueprintManifest;
  bundle?: string;
}

/** The worker's global scope, typed without the worker lib (checked with the rest). */
const scope = self as unknown as {
  onmessage: (event: MessageEvent<Request>) => void;
  postMessage(message: unknown): void;
};

scope.onmessage = (event: MessageEvent<Request>) => {
  const { kind, manifest, bundle } = event.data;
  try {
    scope.postMessage({
      ok: true,
      errors: kind === "gadget"
        ? gadgetCodeGates(manifest as GadgetManifest, bundle ?? "")
        : blueprintCodeGates(manifest as BlueprintManifest),
    });
  } catch (err) {
    scope.postMessage({ ok: false, message: err instanceof Error ? err.message : String(err) });
  }
};
