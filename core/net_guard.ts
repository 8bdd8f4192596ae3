/**
 * Keep the server from being turned against its own network: webhook targets
 * on loopback, private, link-local or otherwise non-public addresses are
 * refused unless their host is allow-listed.
 *
 * @module
 */

/** Resolves a host name to IP addresses (injected: `Deno.resolveDns` in main.ts). */
export type Resolver = (host: string) => Promise<string[]>;

function ipv4Parts(ip: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : null;
}

/**
 * Whether an IP address is not a public unicast address: loopback, private
 * (10/8, 172.16/12, 192.168/16, fc00::/7), link-local, CGNAT, unspecified,
 * multicast, reserved, and IPv4-mapped forms of those.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isNonPublicAddress } from "./net_guard.ts";
 * assert.ok(isNonPublicAddress("127.0.0.1"));
 * assert.ok(isNonPublicAddress("::ffff:10.0.0.1"));
 * assert.ok(!isNonPublicAddress("93.184.216.34"));
 * ```
 */
export function isNonPublicAddress(ip: string): boolean {
  const v4 = ipv4Parts(ip);
  if (v4) {
    const [a, b] = v4 as [number, number, number, number];
    return a === 0 || a === 10 || a === 127 || a >= 224 ||
      (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) ||
      (a === 192 && b === 0) || (a === 198 && (b === 18 || b === 19));
  }
  const v6 = ip.toLowerCase().replace(/^\[|\]$/g, "");
  if (!v6.includes(":")) return true; // not an address we understand: refuse
  const mapped = /^(?:0{0,4}:){0,5}(?:0{0,4}:)?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(v6) ??
    /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(v6);
  if (mapped) return isNonPublicAddress(mapped[1]!);
  if (v6 === "::" || v6 === "::1") return true;
  const first = parseInt(v6.split(":")[0] || "0", 16);
  return (first & 0xfe00) === 0xfc00 || // unique local fc00::/7
    (first & 0xffc0) === 0xfe80 || // link-local fe80::/10
    (first & 0xff00) === 0xff00 || // multicast
    v6.startsWith("::") || // other special ranges starting with zeros
    v6.startsWith("64:ff9b:") || v6.startsWith("2001:db8:");
}

/**
 * Why a webhook URL may not be called, or `null` when it may. Hosts in
 * `allowHosts` (exact host names or IPs, case-insensitive) are always allowed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refuseTarget } from "./net_guard.ts";
 * const resolve = (host: string) => Promise.resolve(host === "hooks.example.com" ? ["93.184.216.34"] : ["10.0.0.5"]);
 * assert(await refuseTarget("https://hooks.example.com/x", { allowHosts: [], resolve }) === null);
 * assert(await refuseTarget("https://intranet.local/x", { allowHosts: [], resolve }) !== null);
 * assert(await refuseTarget("http://127.0.0.1:9000/", { allowHosts: ["127.0.0.1"], resolve }) === null);
 * ```
 */
export async function refuseTarget(
  url: string,
  options: { allowHosts: readonly string[]; resolve: Resolver },
): Promise<string | null> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `Invalid webhook URL '${url}'`;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return `Webhook URL '${url}' must use http or https`;
  }
  if (parsed.username || parsed.password) return "Webhook URLs may not carry credentials";
  const host = parsed.hostname.toLowerCase().replace(/^\[|\]$/g, "");
  if (options.allowHosts.some((h) => h.toLowerCase() === host)) return null;
  let addresses: string[];
  if (ipv4Parts(host) || host.includes(":")) addresses = [host];
  else {
    try {
      addresses = await options.resolve(host);
    } catch {
      return `Could not resolve webhook host '${host}'`;
    }
  }
  if (addresses.length === 0) return `Could not resolve webhook host '${host}'`;
  if (addresses.some(isNonPublicAddress)) {
    return `Webhook host '${host}' is on a private or loopback network; allow it with --webhook-allow-hosts`;
  }
  return null;
}
