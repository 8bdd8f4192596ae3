/**
 * The operator's `registry-item.json` from SCHEMA_DIR, which uploads are
 * validated against (as the original validates them): read on each upload, so
 * an edited schema applies without a restart. Absent: the built-in schema.
 *
 * @module
 */
import { builtinSchemaBytes, type RackSchemaFile } from "../../core/rack/schema.ts";

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

/**
 * The bytes `/schemas/:file` serves: the file in `dir` when a SCHEMA_DIR is
 * configured (`null` when it has none: a 404), else the built-in schema. The
 * Rack mirror copies the same bytes to the bucket.
 */
export async function schemaFileBytes(
  dir: string | undefined,
  file: RackSchemaFile,
): Promise<Uint8Array | null> {
  if (dir === undefined) return builtinSchemaBytes(file);
  try {
    return await Deno.readFile(`${dir}/${file}`);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}
