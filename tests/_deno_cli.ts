// The real `deno` binary as a test drives it: no colours, no backtraces.

/** Run the real `deno` binary; answers its exit code and everything it printed. */
export async function deno(
  args: string[],
  options: { cwd: string; env: Record<string, string> },
): Promise<{ code: number; out: string }> {
  const res = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: options.cwd,
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0", ...options.env },
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: res.code, out: dec.decode(res.stdout) + dec.decode(res.stderr) };
}
