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

/**
 * Everything a client sees of a response: its status, every header (sorted
 * by name) and its body bytes in hex, for byte-equality assertions between
 * two paths that must answer alike.
 */
export async function seenByClient(
  res: Response,
): Promise<{ status: number; headers: [string, string][]; body: string }> {
  const bytes = await res.bytes();
  return {
    status: res.status,
    headers: [...res.headers].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0),
    body: Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""),
  };
}
