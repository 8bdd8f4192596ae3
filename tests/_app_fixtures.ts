// The whole registry app over given stores, with one token (`tok-alice`, the
// subject `alice`) and every budget off: for tests that drive several surfaces
// in process.
import { createRegistryApp, type RegistryApp } from "../routes/app.ts";
import type { BundleStorage, RegistryStorage } from "../storage/types.ts";

/** The app over `storage` and `bundles`; `admin` makes alice a global admin. */
export function makeAliceApp(
  stores: { storage: RegistryStorage; bundles: BundleStorage },
  options: { admin?: boolean } = {},
): RegistryApp {
  return createRegistryApp({
    ...stores,
    clock: () => new Date(),
    authenticator: {
      authenticate: (t) =>
        Promise.resolve(
          t === "tok-alice" ? { subject: "alice", admin: options.admin ?? false } : null,
        ),
    },
    bundleHost: "http://127.0.0.1:9",
    registryHostname: "127.0.0.1:9",
    rateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
    authFailuresPerMinute: 0,
  });
}
