/**
 * Keep the server from being turned against its own network: webhook targets
 * on loopback, private, link-local or otherwise non-public addresses are
 * refused unless their host is allow-listed. A host name is resolved once,
 * every address it resolves to is checked, and the answer carries those
 * addresses so the caller connects to them and nowhere else (a second lookup
 * at connect time could answer differently: DNS rebinding).
 *
 * @module
 */

/** Resolves a host name to IP addresses (injected: `Deno.resolveDns` in the server). */
export type Resolver = (host: string) => Promise<string[]>;

/** What {@linkcode checkTarget} needs: the escape hatch and a resolver. */
export interface TargetGuard {
  /** Hosts (exact names or IPs, case-insensitive) that may be called although private. */
  allowHosts: readonly string[];
  /** Resolves a host name (A and AAAA). */
  resolve: Resolver;
}

/** A host name and the checked addresses a connection to it must use. */
export interface PinnedHost {
  /** The URL's host name (the Host header and the TLS server name). */
  host: string;
  /** The URL's port (default 80 or 443). */
  port: number;
  /** Every address the name resolved to, all public: connect to one of these. */
  addresses: string[];
}

/**
 * The answer of {@linkcode checkTarget}: allowed, with the addresses to
 * connect to when the host is a name (`pin: null` for an IP literal or an
 * allow-listed host, which need no pinning), or refused with the reason.
 */
export type TargetCheck =
  | { ok: true; pin: PinnedHost | null }
  | { ok: false; refusal: string; unresolved?: boolean };

function ipv4Parts(ip: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : null;
}

/** The eight 16-bit groups of an IPv6 address (brackets, `::` and a dotted tail allowed). */
function ipv6Groups(ip: string): number[] | null {
  let s = ip.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const v4 = ipv4Parts(dotted[2]!);
    if (!v4) return null;
    s = `${dotted[1]}${(v4[0]! << 8 | v4[1]!).toString(16)}:${(v4[2]! << 8 | v4[3]!).toString(16)}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const part = (t: string | undefined) => (t ? t.split(":") : []);
  const head = part(halves[0]);
  const tail = part(halves[1]);
  if (![...head, ...tail].every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  return [...head, ...Array(missing).fill("0"), ...tail].map((g) => parseInt(g, 16));
}

/** 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.0.0/24, 192.0.2/24, 192.88.99/24, 192.168/16, 198.18/15, 198.51.100/24, 203.0.113/24, 224/4 and up. */
function v4NonPublic(a: number, b: number, c: number): boolean {
  return a === 0 || a === 10 || a === 127 || a >= 224 ||
    (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) ||
    (a === 192 && b === 0 && (c === 0 || c === 2)) || (a === 192 && b === 88 && c === 99) ||
    (a === 198 && (b === 18 || b === 19)) || (a === 198 && b === 51 && c === 100) ||
    (a === 203 && b === 0 && c === 113);
}

/** Whether the IPv4 address in two 16-bit groups is non-public. */
function embeddedNonPublic(hi: number, lo: number): boolean {
  return v4NonPublic(hi >> 8, hi & 0xff, lo >> 8);
}

/**
 * IPv6: only global unicast (2000::/3) is public, less its documentation and
 * protocol blocks; IPv4 embedded in it (IPv4-mapped, NAT64 64:ff9b::/96, 6to4
 * 2002::/16, Teredo 2001::/32 server and obfuscated client, ISATAP interface
 * ids) is public only when that IPv4 address is.
 */
function v6NonPublic(g: number[]): boolean {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const zeros = (...xs: number[]) => xs.every((x) => x === 0);
  if (zeros(g0, g1, g2, g3, g4) && g5 === 0xffff) return embeddedNonPublic(g6, g7); // ::ffff:a.b.c.d
  if (g0 === 0x64 && g1 === 0xff9b && zeros(g2, g3, g4, g5)) return embeddedNonPublic(g6, g7);
  // Everything else outside 2000::/3: ::, ::1, ::a.b.c.d, 64:ff9b:1::/48, fc00::/7, fe80::/10, ff00::/8…
  if ((g0 & 0xe000) !== 0x2000) return true;
  if (g0 === 0x2002) return embeddedNonPublic(g1, g2); // 6to4
  if (g0 === 0x2001 && g1 === 0) {
    return embeddedNonPublic(g2, g3) || embeddedNonPublic(~g6 & 0xffff, ~g7 & 0xffff); // Teredo
  }
  if (g0 === 0x2001 && g1 < 0x200) return true; // IETF protocol assignments 2001::/23
  if (g0 === 0x2001 && g1 === 0xdb8) return true; // documentation
  if (g0 === 0x3fff && g1 < 0x1000) return true; // documentation 3fff::/20
  if ((g4 & 0xfcff) === 0 && g5 === 0x5efe) return embeddedNonPublic(g6, g7); // ISATAP
  return false;
}

/**
 * Whether an IP address is not a public unicast address: loopback, private
 * (10/8, 172.16/12, 192.168/16, fc00::/7), link-local, CGNAT, unspecified,
 * benchmarking, documentation, multicast, broadcast, reserved, and every IPv6
 * form that embeds such an IPv4 address (mapped, NAT64, 6to4, Teredo,
 * ISATAP). Anything that does not parse as an address counts as non-public.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isNonPublicAddress } from "./net_guard.ts";
 * assert.ok(isNonPublicAddress("127.0.0.1"));
 * assert.ok(isNonPublicAddress("::ffff:10.0.0.1"));
 * assert.ok(isNonPublicAddress("2002:a00:1::1")); // 6to4 of 10.0.0.1
 * assert.ok(!isNonPublicAddress("93.184.216.34"));
 * ```
 */
export function isNonPublicAddress(ip: string): boolean {
  const v4 = ipv4Parts(ip);
  if (v4) return v4NonPublic(v4[0]!, v4[1]!, v4[2]!);
  const v6 = ipv6Groups(ip);
  return v6 === null || v6NonPublic(v6);
}

/** The host of a parsed URL as compared and resolved: no brackets, no trailing dot. */
function bareHost(host: string): string {
  return host.toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
}

function privateRefusal(host: string, address?: string): string {
  const where = address === undefined ? "is" : `resolves to '${address}', which is`;
  return `Webhook host '${host}' ${where} on a private or loopback network; allow it with --webhook-allow-hosts`;
}

/**
 * Whether a webhook URL may be called, and where to connect. URL parsing
 * first normalizes every IPv4 spelling (`http://2130706433/`,
 * `http://0x7f.1/`, `http://127.1/` are all `127.0.0.1`); `localhost` names
 * are refused without a lookup; any other name is resolved once and refused
 * when any of its addresses is non-public, else answered with those
 * addresses to pin. Hosts in `allowHosts` are always allowed, unpinned.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkTarget } from "./net_guard.ts";
 * const resolve = (host: string) => Promise.resolve(host === "hooks.example.com" ? ["93.184.216.34"] : ["10.0.0.5"]);
 * const ok = await checkTarget("https://hooks.example.com/x", { allowHosts: [], resolve });
 * assert.deepEqual(ok, { ok: true, pin: { host: "hooks.example.com", port: 443, addresses: ["93.184.216.34"] } });
 * assert.equal((await checkTarget("http://intranet.test/", { allowHosts: [], resolve })).ok, false);
 * assert.equal((await checkTarget("http://0x7f.1/", { allowHosts: [], resolve })).ok, false);
 * ```
 */
export async function checkTarget(url: string, guard: TargetGuard): Promise<TargetCheck> {
  const refused = (refusal: string) => ({ ok: false as const, refusal });
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return refused(`Invalid webhook URL '${url}'`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return refused(`Webhook URL '${url}' must use http or https`);
  }
  if (parsed.username || parsed.password) return refused("Webhook URLs may not carry credentials");
  const host = bareHost(parsed.hostname);
  if (guard.allowHosts.some((h) => bareHost(h) === host)) return { ok: true, pin: null };
  if (ipv4Parts(host) || host.includes(":")) {
    return isNonPublicAddress(host) ? refused(privateRefusal(host)) : { ok: true, pin: null };
  }
  if (host === "localhost" || host.endsWith(".localhost")) return refused(privateRefusal(host));
  let addresses: string[] = [];
  try {
    addresses = await guard.resolve(host);
  } catch {
    // answered below as unresolved
  }
  if (addresses.length === 0) {
    return { ok: false, refusal: `Could not resolve webhook host '${host}'`, unresolved: true };
  }
  const bad = addresses.find(isNonPublicAddress);
  if (bad !== undefined) return refused(privateRefusal(host, bad));
  const port = Number(parsed.port) || (parsed.protocol === "https:" ? 443 : 80);
  return { ok: true, pin: { host, port, addresses } };
}

/**
 * Why a webhook URL may not be called, or `null` when it may (see
 * {@linkcode checkTarget}, which also answers where to connect).
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
export async function refuseTarget(url: string, guard: TargetGuard): Promise<string | null> {
  const checked = await checkTarget(url, guard);
  return checked.ok ? null : checked.refusal;
}
