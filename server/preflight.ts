/**
 * Checks `main.ts` runs before it writes anything: the store paths exist (or
 * may be created), the configured JSON files exist and parse. Each failure is
 * a {@linkcode StartError}: one line saying what and where, and an exit code.
 *
 * @module
 */
import { type ServerConfig, storeDir } from "./config.ts";

/** A reason not to start: one line, and the exit code (2 usage, 1 environment). */
export class StartError extends Error {
  /** 2 for a usage error (the command line is wrong), 1 for the environment. */
  readonly exitCode: 1 | 2;
  /** A one-line message naming what failed and where. */
  constructor(message: string, exitCode: 1 | 2 = 1) {
    super(message);
    this.name = "StartError";
    this.exitCode = exitCode;
  }
}

/** A local file or directory a store lives in. */
export interface StorePlace {
  /** The flag that names it. */
  flag: string;
  /** As an operator would write it. */
  spec: string;
  /** The path on disk. */
  path: string;
  /** A default place inside another store (bundles beside a KV file): created with it. */
  inside: boolean;
}

function localKv(path: string | undefined): path is string {
  return path !== undefined && path !== ":memory:" && !/^https?:\/\//.test(path);
}

/** Where a configuration's stores live on local disk (nothing for memory or a remote KV). */
export function storePlaces(config: ServerConfig): StorePlace[] {
  const places: StorePlace[] = [];
  const { storage, bundles } = config;
  const dataFlag = config.defaultStore ? "--data-dir" : "--storage";
  if (storage.kind === "fs") {
    places.push({
      flag: "--storage",
      spec: `fs:${storage.path}`,
      path: storage.path,
      inside: false,
    });
  }
  if (storage.kind === "kv" && localKv(storage.path)) {
    places.push({ flag: dataFlag, spec: `kv:${storage.path}`, path: storage.path, inside: false });
  }
  const dir = storeDir(storage);
  if (bundles.kind === "fs") {
    const inside = dir !== undefined && bundles.path === `${dir}/bundles`;
    places.push({ flag: "--bundles", spec: `fs:${bundles.path}`, path: bundles.path, inside });
  }
  if (bundles.kind === "kv" && storage.kind !== "kv") {
    // openStores() keeps KV blobs beside fs rows in <data-dir>/bundles.kv.
    const path = `${config.dataDir}/bundles.kv`;
    places.push({ flag: "--bundles", spec: `kv:${path}`, path, inside: false });
  }
  return places;
}

/** Whether `path` exists; a permission error names the path. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new StartError(`Could not read '${path}': permission denied`);
    }
    throw new StartError(`Could not read '${path}': ${firstLine(err)}`);
  }
}

/**
 * Refuse a store path that does not exist, unless it is the default data
 * directory's or `--init` was passed: a typo must not start a new, empty
 * registry. Default bundles inside a store follow the store.
 */
export async function checkStorePaths(config: ServerConfig): Promise<void> {
  if (config.init || config.defaultStore) return;
  for (const place of storePlaces(config)) {
    if (await pathExists(place.path)) continue;
    if (place.inside) continue; // created beside a store that exists (checked in turn)
    throw new StartError(
      `The store ${place.spec} does not exist: check ${place.flag}, or pass --init to create it`,
    );
  }
}

/** The first line of an error's message. */
export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!;
}

/** Line and column (1-based) of `offset` in `text`. */
function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - (before.lastIndexOf("\n") + 1) + 1;
  return `${line}:${column}`;
}

/** Where JSON.parse stopped in `text`, as `line:column`. */
export function jsonErrorPosition(text: string, err: unknown): string {
  const message = firstLine(err);
  const at = /at position (\d+)/.exec(message);
  if (at) return lineColumn(text, Number(at[1]));
  if (!message.startsWith("Unexpected token")) return lineColumn(text, text.length);
  // V8 names the token but not where: the shortest prefix that fails the same way ends at it.
  let lo = 1, hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    let same = false;
    try {
      JSON.parse(text.slice(0, mid));
    } catch (e) {
      same = firstLine(e).startsWith("Unexpected token");
    }
    if (same) hi = mid;
    else lo = mid + 1;
  }
  return lineColumn(text, lo - 1);
}

/**
 * Read and parse a configured JSON file (auth.json, webhooks.json): a missing
 * file or invalid JSON is a {@linkcode StartError} naming the path, the flag
 * and the parser's `line:column`.
 */
export async function readJsonFile(path: string, flag: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new StartError(`${path} does not exist (given by ${flag}): check the path`);
    }
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new StartError(`Could not read '${path}' (given by ${flag}): permission denied`);
    }
    throw new StartError(`Could not read '${path}' (given by ${flag}): ${firstLine(err)}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    const why = firstLine(err).replace(/ in JSON at position.*$/, "").replace(/, ".*$/, "");
    throw new StartError(`${path}:${jsonErrorPosition(text, err)}: invalid JSON: ${why}`);
  }
}
