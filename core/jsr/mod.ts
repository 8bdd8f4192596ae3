/**
 * The JSR surface's core operations, usable without HTTP: publish a gzipped
 * tarball as `deno publish` sends it, read the package and version metadata
 * documents and files under the one access policy, and the JSR error codes.
 *
 * @module
 */
export {
  authorizeJsrPublish,
  DEFAULT_JSR_LIMITS,
  duplicateVersion,
  getJsrTask,
  isTaskFailure,
  JSR_FORMAT,
  type JsrContext,
  type JsrFacts,
  type JsrLimits,
  type JsrPublishInput,
  jsrRef,
  type JsrTaskRow,
  jsrVisibility,
  mediaTypeOf,
  newTaskId,
  publishJsrTarball,
  recordFailedTask,
  refuseTakenVersion,
  taskOfVersion,
} from "./publish.ts";
export {
  jsrFile,
  jsrPackageDocument,
  jsrPackageForPublish,
  type JsrPackageMeta,
  jsrPackageMeta,
  type JsrRead,
  type JsrReader,
  type JsrVersion,
  jsrVersion,
  jsrVersionList,
  versionDocument,
} from "./read.ts";
export {
  JSR_CODES,
  type JsrCode,
  jsrError,
  type JsrErrorBody,
  type JsrErrorDetail,
  jsrWireError,
} from "./errors.ts";
export { setJsrYanked } from "./yank.ts";
