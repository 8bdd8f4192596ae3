// Child process of tests/migrate_memory_test.ts: runs `main.ts migrate rack
// <source> --data-dir=<target>` in process (as the command does, without
// `--expose-gc`) and prints, as one JSON line, the process's peak RSS
// (VmHWM) before the run and after it, and the run's counts.
// Usage: _migrate_memory_child.ts <source> <target>
import { runMigrate } from "../server/migrate.ts";

const [source, target] = Deno.args;

/** Peak resident set size of this process so far, in bytes. */
function peakRss(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

const before = peakRss();
const out: string[] = [];
const code = await runMigrate(["rack", source!, `--data-dir=${target}`], {}, {
  out: (line) => out.push(line),
  err: () => {},
  tty: false,
});
const report = JSON.parse(out.join("\n"));
console.log(JSON.stringify({ code, before, peak: peakRss(), counts: report.counts }));
