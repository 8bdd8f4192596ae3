// Helpers of the migration tests: fixture copies, in-process runs of
// `migrate`, and a store snapshot to compare end states.
import { fileURLToPath } from "node:url";
import { runMigrate } from "../server/migrate.ts";
import { KvRegistryStorage } from "../storage/kv.ts";
import { listAll } from "../core/store.ts";
import { EXPORTED_ROW_FAMILIES } from "../core/transfer.ts";

export const ORIGINALS = fileURLToPath(
  new URL("../../shared/fixtures/originals", import.meta.url),
);

/** A writable copy of one fixture directory (`ggui-registry-data`, `rack-storage-root`). */
export async function copyFixture(name: string, into: string): Promise<string> {
  const dest = `${into}/${name}`;
  const cp = await new Deno.Command("cp", { args: ["-a", `${ORIGINALS}/${name}`, dest] })
    .output();
  if (!cp.success) throw new Error(`cp failed: ${new TextDecoder().decode(cp.stderr)}`);
  return dest;
}

/** Run `migrate …` in process; answers the exit code and what it printed. */
export async function migrate(
  args: string[],
): Promise<{ code: number; out: string; err: string; report: Record<string, unknown> }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runMigrate(args, {}, { out: (l) => out.push(l), err: (l) => err.push(l) });
  let report: Record<string, unknown> = {};
  try {
    report = JSON.parse(out.join("\n"));
  } catch { /* not a report */ }
  return { code, out: out.join("\n"), err: err.join("\n"), report };
}

/** The targets a run's stderr says were imported (or would be, in a dry run) or found identical. */
export function targets(err: string, outcome: "imported" | "identical"): string[] {
  const word = outcome === "imported" ? "(?:imported|would import)" : "identical";
  return [...err.matchAll(new RegExp(`^migrate: ${word} (\\S+)$`, "gm"))].map((m) => m[1]!);
}

/** The counts of a run's summary. */
export function counts(report: Record<string, unknown>): Record<string, number> {
  return report.counts as Record<string, number>;
}

/**
 * Every exported row of a KV store (audit rows reduced to their action and
 * target, since their ids and times are the run's own), sorted.
 */
export async function snapshot(path: string, bundlesDir: string): Promise<string> {
  const kv = await Deno.openKv(path);
  const storage = new KvRegistryStorage(kv);
  const lines: string[] = [];
  try {
    for (const family of EXPORTED_ROW_FAMILIES) {
      for await (const e of listAll<Record<string, unknown>>(storage, [family])) {
        const value = family === "audit"
          ? { action: e.value.action, target: e.value.target, actor: e.value.actor }
          : e.value;
        lines.push(family === "audit" ? JSON.stringify(value) : JSON.stringify([e.key, value]));
      }
    }
    const walk = async (dir: string): Promise<void> => {
      for await (const e of Deno.readDir(dir)) {
        if (e.isDirectory) {
          if (e.name !== "tmp") await walk(`${dir}/${e.name}`);
        } else {
          lines.push(
            `blob ${dir.slice(bundlesDir.length)}/${e.name} ${
              (await Deno.stat(`${dir}/${e.name}`)).size
            }`,
          );
        }
      }
    };
    await walk(bundlesDir);
  } finally {
    kv.close();
  }
  return lines.sort().join("\n");
}
