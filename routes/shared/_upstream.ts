/**
 * What the upstream-proxy routes of several surfaces (ggui and JSR) share.
 *
 * @module
 */

/** The header that says an answer came from the upstream (and whether it is stale). */
export const UPSTREAM_HEADER = "x-registry-upstream";
