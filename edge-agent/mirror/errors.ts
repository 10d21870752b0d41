/**
 * Mirror failures, one code per cause, each saying whether trying the same
 * thing again later can help (`retryable`):
 *
 *  - PART_REJECTED: S3 refused the bytes of a part (a 4xx such as BadDigest, NoSuchUpload):
 *    sending the same request again will be refused again.
 *  - URL_EXPIRED: S3 answered 403 (AccessDenied, which is what RGW says for an expired
 *    presigned URL, or SignatureDoesNotMatch): ask the gateway for fresh URLs.
 *  - NETWORK: connection refused or reset, a stalled socket, a 5xx or 429 from S3: retryable.
 *  - ABORTED: the caller's AbortSignal fired.
 *  - FILE_CHANGED: the image on disk no longer has the bytes the plan names (shorter, gone).
 *  - GATEWAY_ERROR: the gateway answered with an error, or with a plan that cannot be right.
 *  - GATEWAY_UNAVAILABLE: no session with the gateway (retryable).
 *  - MANIFEST_REJECTED: S3 or the gateway refused the manifest.
 *  - VERIFY_FAILED: the uploaded object does not check out against the image.
 */
export type MirrorErrorCode =
  | 'PART_REJECTED'
  | 'URL_EXPIRED'
  | 'NETWORK'
  | 'ABORTED'
  | 'FILE_CHANGED'
  | 'GATEWAY_ERROR'
  | 'GATEWAY_UNAVAILABLE'
  | 'MANIFEST_REJECTED'
  | 'VERIFY_FAILED';

const RETRYABLE_BY_DEFAULT: Readonly<Record<MirrorErrorCode, boolean>> = {
  PART_REJECTED: false,
  URL_EXPIRED: false,
  NETWORK: true,
  ABORTED: false,
  FILE_CHANGED: false,
  GATEWAY_ERROR: false,
  GATEWAY_UNAVAILABLE: true,
  MANIFEST_REJECTED: false,
  VERIFY_FAILED: false,
};

export interface MirrorErrorOptions {
  cause?: unknown;
  /** Overrides the code's default (NETWORK and GATEWAY_UNAVAILABLE are retryable, the rest not). */
  retryable?: boolean;
  /** The HTTP status, when the error is an HTTP answer. */
  status?: number;
  /** S3's error code from the XML body (`<Code>`), e.g. BadDigest, AccessDenied, NoSuchUpload. */
  s3Code?: string;
}

export class MirrorError extends Error {
  readonly code: MirrorErrorCode;
  readonly retryable: boolean;
  readonly status: number | undefined;
  readonly s3Code: string | undefined;

  constructor(code: MirrorErrorCode, message: string, options: MirrorErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MirrorError';
    this.code = code;
    this.retryable = options.retryable ?? RETRYABLE_BY_DEFAULT[code];
    this.status = options.status;
    this.s3Code = options.s3Code;
  }
}

/** True when `e` is a MirrorError (with `code`, when given). */
export function isMirrorError(e: unknown, code?: MirrorErrorCode): e is MirrorError {
  return e instanceof MirrorError && (code === undefined || e.code === code);
}

/** The ABORTED error for a fired signal (its reason, when that already is one). */
export function abortedBy(signal: AbortSignal | undefined): MirrorError {
  const reason: unknown = signal?.reason;
  if (reason instanceof MirrorError && reason.code === 'ABORTED') return reason;
  return new MirrorError('ABORTED', 'upload aborted', { cause: reason });
}
