/**
 * Posted forms of the pages: URL-encoded, at most 64 KiB.
 *
 * @module
 */

/** The fields of a posted form; `null` when it is not one or is too large. */
export async function formOf(req: Request): Promise<Record<string, string> | null> {
  const type = req.headers.get("content-type") ?? "";
  if (!/^application\/x-www-form-urlencoded\b/i.test(type)) return null;
  const text = await req.text();
  if (text.length > 65536) return null;
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(text)) out[k] = v;
  return out;
}
