/**
 * `main.ts mirror jsr:@std/assert@^1 jsr:@std/path … [--from=<list file or deno.lock>]`:
 * fill the JSR upstream cache of the configured store ahead of time (same
 * store and `--jsr-upstream*` flags as the server), with a progress line per
 * version on stderr and a JSON summary on stdout. Exit 0 when every target
 * was mirrored or skipped by the dependency-confusion rules, 1 when one
 * failed, 2 on a usage error.
 *
 * @module
 */
import { namespaceExists } from "../core/access.ts";
import type { RegistryContext } from "../core/context.ts";
import { parseAuthConfig } from "../core/rack/auth.ts";
import {
  lockTargets,
  mirrorJsr,
  type MirrorTarget,
  parseMirrorSpec,
} from "../core/jsr/upstream_mirror.ts";
import { parseServerArgs } from "./config.ts";
import { openStores } from "./open.ts";

/** Usage of the mirror command. */
export const MIRROR_USAGE = `Usage:
  main.ts mirror <jsr:@scope/name[@range]>… [--from=<file>] [store and --jsr-upstream* flags]
--from takes a list file (one jsr: specifier a line, # comments) or a project's deno.lock
(its exact versions, checked against the lockfile's checksums).`;

/** Where the command writes. */
export interface MirrorIo {
  /** Standard output (the summary). */
  out(line: string): void;
  /** Standard error (progress and errors). */
  err(line: string): void;
}

/** Run `mirror` with the arguments after the command name. */
export async function runMirror(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: MirrorIo = { out: (l) => console.log(l), err: (l) => console.error(l) },
): Promise<number> {
  const usage = (reason: string) => {
    io.err(`registry: ${reason}`);
    io.err(MIRROR_USAGE);
    return 2;
  };
  const targets: MirrorTarget[] = [];
  const rest: string[] = [];
  let fromLock = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--help" || a === "-h") {
      io.out(MIRROR_USAGE);
      return 0;
    }
    if (a === "--from" || a.startsWith("--from=")) {
      const file = a === "--from" ? args[++i] : a.slice("--from=".length);
      if (!file) return usage("--from needs a file");
      let text: string;
      try {
        text = await Deno.readTextFile(file);
      } catch (err) {
        io.err(`registry: could not read '${file}': ${err instanceof Error ? err.message : err}`);
        return 1;
      }
      const locked = lockTargets(text);
      if (locked) {
        fromLock = true;
        targets.push(...locked);
        continue;
      }
      for (const line of text.split("\n").map((l) => l.replace(/#.*/, "").trim())) {
        if (line === "") continue;
        const spec = parseMirrorSpec(line);
        if (!spec) return usage(`'${line}' in ${file} is not a jsr:@scope/name[@range] specifier`);
        targets.push(spec);
      }
    } else if (!a.startsWith("-")) {
      const spec = parseMirrorSpec(a);
      if (!spec) return usage(`'${a}' is not a jsr:@scope/name[@range] specifier`);
      targets.push(spec);
    } else {
      rest.push(a);
    }
  }
  if (targets.length === 0) return usage("mirror needs at least one jsr: specifier or --from");
  const parsed = parseServerArgs(rest, env);
  if (!parsed.ok) return usage(parsed.help ? "mirror takes no --help here" : parsed.error);
  const config = parsed.config;
  if (!config.jsrUpstream) return usage("mirror needs an upstream: --jsr-upstream is off");
  const stores = await openStores(config);
  try {
    const ctx: RegistryContext = {
      storage: stores.storage,
      bundles: stores.bundles,
      clock: () => new Date(),
    };
    const authText = config.authConfig ? await Deno.readTextFile(config.authConfig) : null;
    const auth = parseAuthConfig(authText).auth;
    const report = await mirrorJsr(
      ctx,
      {
        ...config.jsrUpstream,
        ownsNamespace: (ns) => namespaceExists(ctx, ns, auth),
      },
      targets,
      {
        // A lockfile already lists every package the project needs, exactly.
        dependencies: !fromLock,
        onProgress: (line) => io.err(`registry: ${line}`),
      },
    );
    io.out(JSON.stringify(report, null, 2));
    io.err(
      `registry: ${report.versions.length} versions (${report.files} files, ${report.fetched} fetched), ${report.skipped.length} skipped, ${report.failed.length} failed`,
    );
    return report.failed.length > 0 ? 1 : 0;
  } finally {
    await stores.close();
  }
}
