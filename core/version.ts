/**
 * The program's version and the version of the data format it reads and
 * writes (rows, keys, blobs, exports). A start on a store of another data
 * format is an upgrade step: see docs/deployment.md "Upgrades".
 *
 * @module
 */

/** The package version (deno.json's `version`; a test keeps them equal). */
export const VERSION = "0.1.0";

/**
 * The data format: bumped when stored rows or keys change shape in a way an
 * older program could not read. Shown by `main.ts --version` and in `/health`.
 */
export const DATA_FORMAT_VERSION = 1;
