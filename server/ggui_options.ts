/**
 * The ggui conformance and signing options a {@linkcode ServerConfig} names:
 * the sigstore public lane (trust material from a `trusted_root.json` file or
 * a TUF mirror), the explicit Ed25519-on-public option, and the opt-in
 * runtime probe. Called once at boot by `main.ts`;
 * a bad trusted-root file or a probe that cannot start fails the boot.
 *
 * @module
 */
import type { BlueprintProbe } from "../core/ggui/conformance.ts";
import { offlineSigstoreVerifier, type SigstoreVerifier } from "../core/ggui/signing.ts";
import type { ServerConfig } from "./config.ts";

/**
 * The sigstore verifier, loaded only when a server is configured for it:
 * sigstore-js and its TUF client cost ~0.25 s of start-up CPU otherwise spent
 * by every server (docs/bench.md, start-up).
 */
function sigstore(): Promise<typeof import("../core/ggui/sigstore.ts")> {
  return import("../core/ggui/sigstore.ts");
}

/**
 * What `createRegistryApp` takes for the ggui conformance and signing lanes.
 * No code gates: the app's default, the parser gates (inline for small
 * inputs, in a worker for large ones), loads with the first check or publish.
 */
export interface GguiServerOptions {
  /** The public lane, when trust material or `--public-ed25519` is configured. */
  sigstore?: SigstoreVerifier;
  /** The runtime probe, with `--blueprint-probe`. */
  blueprintProbe?: BlueprintProbe;
}

/**
 * Build the ggui options of a server config (reads the trusted-root file and
 * warms the probe's module cache).
 */
export async function gguiServerOptions(config: ServerConfig): Promise<GguiServerOptions> {
  const out: GguiServerOptions = {};
  let lane: SigstoreVerifier | undefined;
  if (config.sigstoreTrustedRoot !== undefined) {
    let trustedRoot: unknown;
    try {
      trustedRoot = JSON.parse(await Deno.readTextFile(config.sigstoreTrustedRoot));
    } catch (err) {
      throw new Error(
        `Could not read the sigstore trusted root '${config.sigstoreTrustedRoot}': ${
          err instanceof Error ? err.message : String(err)
        }`,
      );
    }
    lane = (await sigstore()).createSigstoreVerifier({ trustedRoot });
  } else if (config.sigstoreTufMirror !== undefined) {
    lane = (await sigstore()).createSigstoreVerifier({
      tufMirrorURL: config.sigstoreTufMirror,
      tufCachePath: `${config.dataDir}/sigstore-tuf`,
    });
  }
  if (config.publicEd25519) {
    const { withPublicEd25519 } = await import("../core/ggui/public_lane.ts");
    lane = withPublicEd25519(lane ?? offlineSigstoreVerifier);
  }
  if (lane !== undefined) out.sigstore = lane;
  if (config.blueprintProbe) {
    const { createBlueprintProbe } = await import("./blueprint_probe.ts");
    const probe = createBlueprintProbe();
    await probe.warmUp();
    out.blueprintProbe = probe;
  }
  return out;
}
