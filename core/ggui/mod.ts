/**
 * The ggui surface's core operations, usable without HTTP: each takes a
 * {@linkcode GguiContext} and a request, and answers the wire's
 * `{status, body}`.
 *
 * @module
 */
export {
  type AuthnContext,
  blobUrl,
  BUNDLE_FILES,
  type BundleFile,
  DEFAULT_RESERVED_SCOPES,
  type GguiContext,
  type GguiErrorBody,
  type GguiFacts,
  type GguiResult,
  installCommand,
  MAX_BUNDLE_BYTES,
  normalizeBundleHost,
  publicSummaryOf,
  UNAUTHORIZED_MESSAGE,
} from "./_common.ts";
export {
  type AuthorKeyBody,
  deleteAuthorKey,
  listAuthorKeys,
  type ListedKey,
  registerAuthorKey,
} from "./author_keys.ts";
export {
  type BundleFileRequest,
  locateBundleFile,
  type LocatedFile,
  MISS_MESSAGES,
  PRIVATE_BUNDLE_UNAUTHORIZED,
} from "./bundles.ts";
export {
  type AsyncCodeGates,
  type BlueprintProbe,
  checkConformance,
  checkConformanceRequest,
  type CodeGates,
  CONFORMANCE_CODES,
  type ConformanceBody,
  type ConformanceCode,
  type ConformanceError,
  type ConformanceResult,
} from "./conformance.ts";
export {
  listArtifactVersions,
  type ListRequest,
  type VersionEntry,
  type VersionListBody,
} from "./list_versions.ts";
export {
  type ArtifactManifest,
  type BlueprintManifest,
  canonicalJson,
  type DataContract,
  type GadgetExport,
  type GadgetManifest,
  type ManifestIssue,
  type McpToolBinding,
  parseManifest,
  type ParseManifestResult,
  type SearchFacts,
  type SharedMetadata,
} from "./manifest.ts";
export { publishArtifact, type PublishBody } from "./publish.ts";
export { readArtifact, type ReadBody, type ReadRequest, type ReadResult } from "./read.ts";
export { searchArtifacts, type SearchBody, type SearchEntry, type SearchQuery } from "./search.ts";
export {
  type Ed25519Envelope,
  keyIdOf,
  offlineSigstoreVerifier,
  type SignatureEnvelope,
  type SigstoreEnvelope,
  type SigstoreVerified,
  type SigstoreVerifier,
  verifyEd25519,
  type VerifyResult,
} from "./signing.ts";
