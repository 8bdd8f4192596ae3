/**
 * The operator's `registry-item.json` from SCHEMA_DIR, which uploads are
 * validated against (as the original validates them): read on each upload, so
 * an edited schema applies without a restart. Absent: the built-in schema.
 *
 * @module
 */

/** The parsed schema, or `undefined` when the folder has none (then the built-in one applies). */
export async function dirSchema(dir: string): Promise<object | undefined> {
  const path = `${dir}/registry-item.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  const schema: unknown = JSON.parse(text);
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    throw new TypeError(`The schema ${path} is not a JSON object`);
  }
  return schema;
}
