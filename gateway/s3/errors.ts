/**
 * The object store's typed errors, and how an SDK failure becomes one. Callers
 * switch on `code`, never on the SDK's exception classes:
 *
 *   S3_NOT_CONFIGURED  no endpoint/keys and no local RGW state, or no credentials found
 *   NO_SUCH_UPLOAD     the multipart upload is gone (completed, aborted, never existed)
 *   NO_SUCH_KEY        the object (or that version of it) does not exist
 *   TOO_LARGE          an object is bigger than the caller agreed to read
 *   S3_UNAVAILABLE     S3 could not be reached or failed on its side: connection refused
 *                      or reset, timeouts, 5xx (worth retrying later)
 *   S3_ERROR           S3 refused the request for another reason; the message carries
 *                      S3's own code and message (AccessDenied, InvalidPart, ...)
 */

export type ObjectStoreErrorCode =
  | 'S3_NOT_CONFIGURED'
  | 'NO_SUCH_UPLOAD'
  | 'NO_SUCH_KEY'
  | 'TOO_LARGE'
  | 'S3_UNAVAILABLE'
  | 'S3_ERROR';

export class ObjectStoreError extends Error {
  readonly code: ObjectStoreErrorCode;
  /** S3's error code (e.g. `AccessDenied`) or the network error's (e.g. `ECONNREFUSED`), when there is one. */
  readonly s3Code: string | undefined;
  /** The HTTP status S3 answered with, when it answered. */
  readonly httpStatus: number | undefined;
  constructor(
    code: ObjectStoreErrorCode,
    message: string,
    o: { s3Code?: string; httpStatus?: number; cause?: unknown } = {},
  ) {
    super(message, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = 'ObjectStoreError';
    this.code = code;
    this.s3Code = o.s3Code;
    this.httpStatus = o.httpStatus;
  }
}

/** Network-level failures: S3 never answered, or the connection broke. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
]);
/** SDK / S3 error names that mean "try again later", whatever the status. */
const UNAVAILABLE_NAMES = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ServiceUnavailable',
  'SlowDown',
  'InternalError',
]);

interface SdkLike {
  name?: string;
  code?: string;
  message?: string;
  errors?: unknown[];
  cause?: unknown;
  $metadata?: { httpStatusCode?: number };
}

/** The first network error code found in err, its cause chain or an AggregateError's members. */
function networkCode(err: unknown, depth = 0): string | undefined {
  if (depth > 4 || typeof err !== 'object' || err === null) return undefined;
  const e = err as SdkLike;
  if (e.code && NETWORK_CODES.has(e.code)) return e.code;
  for (const inner of e.errors ?? []) {
    const c = networkCode(inner, depth + 1);
    if (c) return c;
  }
  return networkCode(e.cause, depth + 1);
}

/**
 * Map whatever the SDK threw while doing `what` (e.g. `UploadPart sites/a/x.iso`) to an
 * ObjectStoreError. An ObjectStoreError passes through unchanged.
 */
export function toObjectStoreError(err: unknown, what: string): ObjectStoreError {
  if (err instanceof ObjectStoreError) return err;
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as SdkLike;
  const status = e.$metadata?.httpStatusCode;
  const name = e.name ?? 'Error';
  const message = e.message || (status ? `HTTP ${status}` : 'unknown error');
  const net = networkCode(err);
  const o = { s3Code: net ?? name, ...(status === undefined ? {} : { httpStatus: status }), cause: err };
  if (name === 'CredentialsProviderError') {
    return new ObjectStoreError('S3_NOT_CONFIGURED', `${what}: no S3 credentials: ${message}`, o);
  }
  if (name === 'NoSuchUpload') return new ObjectStoreError('NO_SUCH_UPLOAD', `${what}: no such upload`, o);
  if (name === 'NoSuchKey' || name === 'NoSuchVersion') {
    return new ObjectStoreError('NO_SUCH_KEY', `${what}: no such object (${name})`, o);
  }
  if (net || UNAVAILABLE_NAMES.has(name) || (status !== undefined && status >= 500)) {
    const why = net ? `${net}: ${message}` : status ? `${name} (HTTP ${status}): ${message}` : `${name}: ${message}`;
    return new ObjectStoreError('S3_UNAVAILABLE', `${what}: S3 unavailable: ${why}`, o);
  }
  const statusText = status === undefined ? '' : ` (HTTP ${status})`;
  return new ObjectStoreError('S3_ERROR', `${what}: ${name}${statusText}: ${message}`, o);
}
