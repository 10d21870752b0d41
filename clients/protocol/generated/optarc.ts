/*
 * Generated from clients/protocol/optarc.x by `npm run generate:protocol`.
 * Do not edit: change the .x file and regenerate.
 */
import { type Charset, x } from '../../oncrpc/xdr/index.js';

export const OPTARC_VERSION = 1;
export const OPTARC_MAX_NAME = 255;
export const OPTARC_MAX_PATH = 1023;
export const OPTARC_MAX_DATA = 1048576;
export const OPTARC_MAX_TEXT = 1024;
export const OPTARC_MAX_HOST = 255;
export const OPTARC_MAX_LABEL = 32;
export const OPTARC_MAX_MEDIA = 32;
export const OPTARC_MAX_DRIVE = 64;
export const OPTARC_MAX_ENTRIES = 512;
export const OPTARC_MAX_DRIVES = 64;
export const OPTARC_MAX_VOLUMES = 256;
export const OPTARC_SHA256_SIZE = 32;
export const OPTARC_MAX_HITS = 128;
export const OPTARC_MAX_COPIES = 16;
export const OPTARC_MAX_KEY = 1024;
export const OPTARC_MAX_TOKEN = 64;

/** The values of enum optarc_status. */
export const OptarcStatus = {
  OPTARC_OK: 0,
  OPTARC_BUSY: 1,
  OPTARC_VERSION_MISMATCH: 2,
  OPTARC_NO_SESSION: 3,
  OPTARC_LEASE_EXPIRED: 4,
  OPTARC_ACCESS_DENIED: 5,
  OPTARC_BAD_NAME: 6,
  OPTARC_NOT_FOUND: 7,
  OPTARC_EXISTS: 8,
  OPTARC_NOT_DIR: 9,
  OPTARC_IS_DIR: 10,
  OPTARC_NOT_EMPTY: 11,
  OPTARC_QUOTA_EXCEEDED: 12,
  OPTARC_NO_SPACE: 13,
  OPTARC_SIZE_MISMATCH: 14,
  OPTARC_CHECKSUM_MISMATCH: 15,
  OPTARC_COMMITTED: 16,
  OPTARC_BAD_COOKIE: 17,
  OPTARC_BAD_ARGUMENT: 18,
  OPTARC_NOT_AVAILABLE: 19,
  OPTARC_NO_SUCH_JOB: 20,
  OPTARC_NO_SUCH_DRIVE: 21,
  OPTARC_NO_MEDIUM: 22,
  OPTARC_IO_ERROR: 23,
  OPTARC_NOT_READY: 24,
  OPTARC_EXPIRED: 25,
  OPTARC_NO_SOURCE: 26,
  OPTARC_CORRUPT: 27,
} as const;

/** The values of enum optarc_kind. */
export const OptarcKind = {
  OPTARC_FILE: 1,
  OPTARC_DIR: 2,
} as const;

/** The values of enum optarc_burn_mode. */
export const OptarcBurnMode = {
  OPTARC_BURN_NEW: 1,
  OPTARC_BURN_APPEND: 2,
} as const;

/** The values of enum optarc_job_state. */
export const OptarcJobState = {
  OPTARC_JOB_QUEUED: 1,
  OPTARC_JOB_RUNNING: 2,
  OPTARC_JOB_DONE: 3,
  OPTARC_JOB_FAILED: 4,
} as const;

/** The values of enum optarc_match. */
export const OptarcMatch = {
  OPTARC_MATCH_EXACT: 1,
  OPTARC_MATCH_LIKE: 2,
  OPTARC_MATCH_GLOB: 3,
} as const;

/** The values of enum optarc_retrieve_mode. */
export const OptarcRetrieveMode = {
  OPTARC_ONLINE: 1,
  OPTARC_OFFLINE: 2,
} as const;

/** The values of enum optarc_retrieval_state. */
export const OptarcRetrievalState = {
  OPTARC_RETRIEVAL_QUEUED: 1,
  OPTARC_RETRIEVAL_FETCHING: 2,
  OPTARC_RETRIEVAL_READY: 3,
  OPTARC_RETRIEVAL_FAILED: 4,
  OPTARC_RETRIEVAL_COLLECTED: 5,
  OPTARC_RETRIEVAL_EXPIRED: 6,
} as const;

/** Every type declared in clients/protocol/optarc.x, by its .x name; strings are text in `charset`. */
export function createCodecs(charset: Charset = 'utf-8') {
  const optarc_status = x.enumeration('optarc_status', OptarcStatus);
  const optarc_path = x.opaque(OPTARC_MAX_PATH);
  const optarc_sha256 = x.fixedOpaque(OPTARC_SHA256_SIZE);
  const optarc_text = x.string(OPTARC_MAX_TEXT, charset);
  const optarc_session = x.uhyper;
  const optarc_job = x.uhyper;
  const optarc_time = x.struct('optarc_time', [
    ['seconds', x.hyper],
    ['nanoseconds', x.uint],
  ]);
  const optarc_busy = x.struct('optarc_busy', [
    ['holder', x.string(OPTARC_MAX_HOST, charset)],
    ['client', x.string(OPTARC_MAX_HOST, charset)],
    ['since', optarc_time],
  ]);
  const optarc_versions = x.struct('optarc_versions', [
    ['low', x.uint],
    ['high', x.uint],
  ]);
  const optarc_digests = x.struct('optarc_digests', [
    ['expected', optarc_sha256],
    ['actual', optarc_sha256],
  ]);
  const optarc_sizes = x.struct('optarc_sizes', [
    ['expected', x.uhyper],
    ['actual', x.uhyper],
  ]);
  const optarc_quota = x.struct('optarc_quota', [
    ['limit', x.uhyper],
    ['used', x.uhyper],
  ]);
  const optarc_detail = x.union<
    | x.Infer<typeof optarc_busy>
    | x.Infer<typeof optarc_versions>
    | x.Infer<typeof optarc_digests>
    | x.Infer<typeof optarc_sizes>
    | x.Infer<typeof optarc_quota>
    | undefined
  >(
    'optarc_detail',
    optarc_status,
    {
      [OptarcStatus.OPTARC_BUSY]: optarc_busy,
      [OptarcStatus.OPTARC_VERSION_MISMATCH]: optarc_versions,
      [OptarcStatus.OPTARC_CHECKSUM_MISMATCH]: optarc_digests,
      [OptarcStatus.OPTARC_SIZE_MISMATCH]: optarc_sizes,
      [OptarcStatus.OPTARC_QUOTA_EXCEEDED]: optarc_quota,
    },
    x.xvoid,
  );
  const optarc_fail = x.struct('optarc_fail', [
    ['detail', optarc_detail],
    ['message', optarc_text],
  ]);
  const optarc_res = x.union<undefined | x.Infer<typeof optarc_fail>>(
    'optarc_res',
    optarc_status,
    {
      [OptarcStatus.OPTARC_OK]: x.xvoid,
    },
    optarc_fail,
  );
  const optarc_hello_args = x.struct('optarc_hello_args', [
    ['protocol', x.uint],
    ['client_time', optarc_time],
    ['client', x.string(OPTARC_MAX_HOST, charset)],
  ]);
  const optarc_hello_ok = x.struct('optarc_hello_ok', [
    ['protocol', x.uint],
    ['session', optarc_session],
    ['lease_seconds', x.uint],
    ['quota', optarc_quota],
    ['agent_time', optarc_time],
    ['charset', x.string(OPTARC_MAX_NAME, charset)],
    ['max_data', x.uint],
  ]);
  const optarc_hello_res = x.union<x.Infer<typeof optarc_hello_ok> | x.Infer<typeof optarc_fail>>(
    'optarc_hello_res',
    optarc_status,
    {
      [OptarcStatus.OPTARC_OK]: optarc_hello_ok,
    },
    optarc_fail,
  );
  const optarc_session_args = x.struct('optarc_session_args', [['session', optarc_session]]);
  const optarc_path_args = x.struct('optarc_path_args', [
    ['session', optarc_session],
    ['path', optarc_path],
  ]);
  const optarc_mkdir_args = x.struct('optarc_mkdir_args', [
    ['session', optarc_session],
    ['path', optarc_path],
    ['mode', x.uint],
  ]);
  const optarc_write_args = x.struct('optarc_write_args', [
    ['session', optarc_session],
    ['path', optarc_path],
    ['offset', x.uhyper],
    ['data', x.opaque(OPTARC_MAX_DATA)],
  ]);
  const optarc_write_ok = x.struct('optarc_write_ok', [['size', x.uhyper]]);
  const optarc_write_res = x.union<x.Infer<typeof optarc_write_ok> | x.Infer<typeof optarc_fail>>(
    'optarc_write_res',
    optarc_status,
    {
      [OptarcStatus.OPTARC_OK]: optarc_write_ok,
    },
    optarc_fail,
  );
  const optarc_commit_args = x.struct('optarc_commit_args', [
    ['session', optarc_session],
    ['path', optarc_path],
    ['size', x.uhyper],
    ['mode', x.uint],
    ['mtime', x.optional(optarc_time)],
    ['sha256', x.optional(optarc_sha256)],
  ]);
  const optarc_commit_ok = x.struct('optarc_commit_ok', [
    ['sha256', optarc_sha256],
    ['size', x.uhyper],
  ]);
  const optarc_commit_res = x.union<x.Infer<typeof optarc_commit_ok> | x.Infer<typeof optarc_fail>>(
    'optarc_commit_res',
    optarc_status,
    {
      [OptarcStatus.OPTARC_OK]: optarc_commit_ok,
    },
    optarc_fail,
  );
  const optarc_kind = x.enumeration('optarc_kind', OptarcKind);
  const optarc_entry = x.struct('optarc_entry', [
    ['name', x.opaque(OPTARC_MAX_NAME)],
    ['kind', optarc_kind],
    ['size', x.uhyper],
    ['mode', x.uint],
    ['mtime', optarc_time],
    ['committed', x.bool],
    ['sha256', x.optional(optarc_sha256)],
  ]);
  const optarc_list_args = x.struct('optarc_list_args', [
    ['session', optarc_session],
    ['dir', optarc_path],
    ['cookie', x.uhyper],
    ['count', x.uint],
  ]);
  const optarc_list_ok = x.struct('optarc_list_ok', [
    ['entries', x.array(optarc_entry, OPTARC_MAX_ENTRIES)],
    ['cookie', x.uhyper],
    ['eof', x.bool],
  ]);
  const optarc_list_res = x.union<x.Infer<typeof optarc_list_ok> | x.Infer<typeof optarc_fail>>(
    'optarc_list_res',
    optarc_status,
    {
      [OptarcStatus.OPTARC_OK]: optarc_list_ok,
    },
    optarc_fail,
  );
  const optarc_stat_res = x.union<x.Infer<typeof optarc_entry> | x.Infer<typeof optarc_fail>>(
    'optarc_stat_res',
    optarc_status,
    {
      [OptarcStatus.OPTARC_OK]: optarc_entry,
    },
    optarc_fail,
  );
  const optarc_burn_mode = x.enumeration('optarc_burn_mode', OptarcBurnMode);
  const optarc_burn_args = x.struct('optarc_burn_args', [
    ['session', optarc_session],
    ['mode', optarc_burn_mode],
    ['copies', x.uint],
    ['media', x.string(OPTARC_MAX_MEDIA, charset)],
    ['label', x.string(OPTARC_MAX_LABEL, charset)],
  ]);
  const optarc_burn_copy_args = x.struct('optarc_burn_copy_args', [
    ['session', optarc_session],
    ['copies', x.uint],
    ['media', x.string(OPTARC_MAX_MEDIA, charset)],
  ]);
  const optarc_drive_args = x.struct('optarc_drive_args', [
    ['session', optarc_session],
    ['drive', x.string(OPTARC_MAX_DRIVE, charset)],
  ]);
  const optarc_unmount_args = x.struct('optarc_unmount_args', [
    ['session', optarc_session],
    ['drive', x.string(OPTARC_MAX_DRIVE, charset)],
    ['eject', x.bool],
  ]);
  const optarc_job_res = x.union<x.Infer<typeof optarc_job> | x.Infer<typeof optarc_fail>>(
    'optarc_job_res',
    optarc_status,
    {
      [OptarcStatus.OPTARC_OK]: optarc_job,
    },
    optarc_fail,
  );
  const optarc_job_state = x.enumeration('optarc_job_state', OptarcJobState);
  const optarc_job_args = x.struct('optarc_job_args', [
    ['session', optarc_session],
    ['job', optarc_job],
  ]);
  const optarc_copy_status = x.struct('optarc_copy_status', [
    ['copy', x.uint],
    ['attempt', x.uint],
    ['drive', x.string(OPTARC_MAX_DRIVE, charset)],
    ['state', x.string(OPTARC_MAX_NAME, charset)],
    ['percent', x.uint],
    ['error', optarc_text],
  ]);
  const optarc_volume_status = x.struct('optarc_volume_status', [
    ['vsn', x.string(OPTARC_MAX_LABEL, charset)],
    ['state', x.string(OPTARC_MAX_NAME, charset)],
    ['percent', x.uint],
    ['copies', x.array(optarc_copy_status, OPTARC_MAX_DRIVES)],
  ]);
  const optarc_job_status = x.struct('optarc_job_status', [
    ['job', optarc_job],
    ['state', optarc_job_state],
    ['step', x.string(OPTARC_MAX_NAME, charset)],
    ['percent', x.uint],
    ['message', optarc_text],
    ['volumes', x.array(optarc_volume_status, OPTARC_MAX_VOLUMES)],
  ]);
  const optarc_job_status_res = x.union<x.Infer<typeof optarc_job_status> | x.Infer<typeof optarc_fail>>(
    'optarc_job_status_res',
    optarc_status,
    {
      [OptarcStatus.OPTARC_OK]: optarc_job_status,
    },
    optarc_fail,
  );
  const optarc_drive = x.struct('optarc_drive', [
    ['name', x.string(OPTARC_MAX_DRIVE, charset)],
    ['address', x.string(OPTARC_MAX_PATH, charset)],
    ['loaded', x.bool],
    ['media', x.string(OPTARC_MAX_MEDIA, charset)],
    ['vsn', x.string(OPTARC_MAX_LABEL, charset)],
    ['busy', x.bool],
  ]);
  const optarc_drives_res = x.union<x.Infer<typeof optarc_drive>[] | x.Infer<typeof optarc_fail>>(
    'optarc_drives_res',
    optarc_status,
    {
      [OptarcStatus.OPTARC_OK]: x.array(optarc_drive, OPTARC_MAX_DRIVES),
    },
    optarc_fail,
  );
  const optarc_vol_list_args = x.struct('optarc_vol_list_args', [
    ['session', optarc_session],
    ['drive', x.string(OPTARC_MAX_DRIVE, charset)],
    ['dir', optarc_path],
    ['cookie', x.uhyper],
    ['count', x.uint],
  ]);
  const optarc_vol_read_args = x.struct('optarc_vol_read_args', [
    ['session', optarc_session],
    ['drive', x.string(OPTARC_MAX_DRIVE, charset)],
    ['path', optarc_path],
    ['offset', x.uhyper],
    ['count', x.uint],
  ]);
  const optarc_vol_read_ok = x.struct('optarc_vol_read_ok', [
    ['data', x.opaque(OPTARC_MAX_DATA)],
    ['eof', x.bool],
  ]);
  const optarc_vol_read_res = x.union<x.Infer<typeof optarc_vol_read_ok> | x.Infer<typeof optarc_fail>>(
    'optarc_vol_read_res',
    optarc_status,
    {
      [OptarcStatus.OPTARC_OK]: optarc_vol_read_ok,
    },
    optarc_fail,
  );
  const optarc_cat_copy = x.struct('optarc_cat_copy', [
    ['copy', x.uint],
    ['state', x.string(OPTARC_MAX_NAME, charset)],
    ['medium', x.string(OPTARC_MAX_PATH, charset)],
    ['drive', x.string(OPTARC_MAX_DRIVE, charset)],
    ['note', optarc_text],
  ]);
  const optarc_cat_volume = x.struct('optarc_cat_volume', [
    ['vsn', x.string(OPTARC_MAX_LABEL, charset)],
    ['label', x.string(OPTARC_MAX_LABEL, charset)],
    ['media', x.string(OPTARC_MAX_MEDIA, charset)],
    ['state', x.string(OPTARC_MAX_NAME, charset)],
    ['created', optarc_time],
    ['image_bytes', x.uhyper],
    ['image_sha256', optarc_sha256],
    ['sessions', x.uint],
    ['files', x.uint],
    ['copies', x.array(optarc_cat_copy, OPTARC_MAX_COPIES)],
    ['cloud_key', x.string(OPTARC_MAX_KEY, charset)],
    ['cloud_version', x.string(OPTARC_MAX_KEY, charset)],
    ['fixity', optarc_text],
  ]);
  const optarc_cat_volumes_args = x.struct('optarc_cat_volumes_args', [
    ['session', optarc_session],
    ['since', optarc_time],
    ['cookie', x.uhyper],
    ['count', x.uint],
  ]);
  const optarc_cat_volumes_ok = x.struct('optarc_cat_volumes_ok', [
    ['volumes', x.array(optarc_cat_volume, OPTARC_MAX_HITS)],
    ['cookie', x.uhyper],
    ['eof', x.bool],
  ]);
  const optarc_cat_volumes_res = x.union<x.Infer<typeof optarc_cat_volumes_ok> | x.Infer<typeof optarc_fail>>(
    'optarc_cat_volumes_res',
    optarc_status,
    {
      [OptarcStatus.OPTARC_OK]: optarc_cat_volumes_ok,
    },
    optarc_fail,
  );
  const optarc_match = x.enumeration('optarc_match', OptarcMatch);
  const optarc_cat_file = x.struct('optarc_cat_file', [
    ['path', optarc_path],
    ['size', x.uhyper],
    ['mode', x.uint],
    ['mtime', optarc_time],
    ['sha256', optarc_sha256],
    ['vsn', x.string(OPTARC_MAX_LABEL, charset)],
    ['session', x.uint],
    ['part', x.uint],
    ['parts', x.uint],
    ['part_offset', x.uhyper],
    ['part_length', x.uhyper],
  ]);
  const optarc_cat_find_args = x.struct('optarc_cat_find_args', [
    ['session', optarc_session],
    ['match', optarc_match],
    ['pattern', optarc_path],
    ['since', optarc_time],
    ['vsn', x.string(OPTARC_MAX_LABEL, charset)],
    ['cookie', x.uhyper],
    ['count', x.uint],
  ]);
  const optarc_cat_find_ok = x.struct('optarc_cat_find_ok', [
    ['files', x.array(optarc_cat_file, OPTARC_MAX_HITS)],
    ['cookie', x.uhyper],
    ['eof', x.bool],
  ]);
  const optarc_cat_find_res = x.union<x.Infer<typeof optarc_cat_find_ok> | x.Infer<typeof optarc_fail>>(
    'optarc_cat_find_res',
    optarc_status,
    {
      [OptarcStatus.OPTARC_OK]: optarc_cat_find_ok,
    },
    optarc_fail,
  );
  const optarc_whereis_args = x.struct('optarc_whereis_args', [
    ['session', optarc_session],
    ['path', optarc_path],
    ['sha256', x.optional(optarc_sha256)],
    ['cookie', x.uhyper],
    ['count', x.uint],
  ]);
  const optarc_location = x.struct('optarc_location', [
    ['file', optarc_cat_file],
    ['volume', optarc_cat_volume],
  ]);
  const optarc_whereis_ok = x.struct('optarc_whereis_ok', [
    ['locations', x.array(optarc_location, OPTARC_MAX_HITS)],
    ['cookie', x.uhyper],
    ['eof', x.bool],
  ]);
  const optarc_whereis_res = x.union<x.Infer<typeof optarc_whereis_ok> | x.Infer<typeof optarc_fail>>(
    'optarc_whereis_res',
    optarc_status,
    {
      [OptarcStatus.OPTARC_OK]: optarc_whereis_ok,
    },
    optarc_fail,
  );
  const optarc_retrieve_mode = x.enumeration('optarc_retrieve_mode', OptarcRetrieveMode);
  const optarc_retrieve_args = x.struct('optarc_retrieve_args', [
    ['session', optarc_session],
    ['path', optarc_path],
    ['sha256', x.optional(optarc_sha256)],
    ['vsn', x.string(OPTARC_MAX_LABEL, charset)],
    ['mode', optarc_retrieve_mode],
    ['priority', x.uint],
    ['deadline', optarc_time],
  ]);
  const optarc_retrieval_state = x.enumeration('optarc_retrieval_state', OptarcRetrievalState);
  const optarc_retrieval = x.struct('optarc_retrieval', [
    ['token', x.string(OPTARC_MAX_TOKEN, charset)],
    ['state', optarc_retrieval_state],
    ['mode', optarc_retrieve_mode],
    ['priority', x.uint],
    ['position', x.uint],
    ['deadline', optarc_time],
    ['vsn', x.string(OPTARC_MAX_LABEL, charset)],
    ['path', optarc_path],
    ['size', x.uhyper],
    ['sha256', optarc_sha256],
    ['source', x.string(OPTARC_MAX_NAME, charset)],
    ['percent', x.uint],
    ['expires', optarc_time],
    ['message', optarc_text],
  ]);
  const optarc_retrieve_res = x.union<x.Infer<typeof optarc_retrieval> | x.Infer<typeof optarc_fail>>(
    'optarc_retrieve_res',
    optarc_status,
    {
      [OptarcStatus.OPTARC_OK]: optarc_retrieval,
    },
    optarc_fail,
  );
  const optarc_token_args = x.struct('optarc_token_args', [
    ['session', optarc_session],
    ['token', x.string(OPTARC_MAX_TOKEN, charset)],
  ]);
  const optarc_cached_args = x.struct('optarc_cached_args', [
    ['session', optarc_session],
    ['token', x.string(OPTARC_MAX_TOKEN, charset)],
    ['offset', x.uhyper],
    ['count', x.uint],
  ]);
  const optarc_reburn_args = x.struct('optarc_reburn_args', [
    ['session', optarc_session],
    ['vsn', x.string(OPTARC_MAX_LABEL, charset)],
    ['copies', x.uint],
    ['media', x.string(OPTARC_MAX_MEDIA, charset)],
  ]);
  const optarc_fixity_args = x.struct('optarc_fixity_args', [
    ['session', optarc_session],
    ['run', x.bool],
    ['vsn', x.string(OPTARC_MAX_LABEL, charset)],
    ['cookie', x.uhyper],
    ['count', x.uint],
  ]);
  const optarc_fixity_check = x.struct('optarc_fixity_check', [
    ['vsn', x.string(OPTARC_MAX_LABEL, charset)],
    ['target', x.string(OPTARC_MAX_NAME, charset)],
    ['ok', x.bool],
    ['at', optarc_time],
    ['bytes', x.uhyper],
    ['detail', optarc_text],
  ]);
  const optarc_fixity_ok = x.struct('optarc_fixity_ok', [
    ['checks', x.array(optarc_fixity_check, OPTARC_MAX_HITS)],
    ['cookie', x.uhyper],
    ['eof', x.bool],
    ['running', x.bool],
    ['failures', x.uint],
    ['last_pass', optarc_time],
    ['next_pass', optarc_time],
  ]);
  const optarc_fixity_res = x.union<x.Infer<typeof optarc_fixity_ok> | x.Infer<typeof optarc_fail>>(
    'optarc_fixity_res',
    optarc_status,
    {
      [OptarcStatus.OPTARC_OK]: optarc_fixity_ok,
    },
    optarc_fail,
  );
  return {
    optarc_status,
    optarc_path,
    optarc_sha256,
    optarc_text,
    optarc_session,
    optarc_job,
    optarc_time,
    optarc_busy,
    optarc_versions,
    optarc_digests,
    optarc_sizes,
    optarc_quota,
    optarc_detail,
    optarc_fail,
    optarc_res,
    optarc_hello_args,
    optarc_hello_ok,
    optarc_hello_res,
    optarc_session_args,
    optarc_path_args,
    optarc_mkdir_args,
    optarc_write_args,
    optarc_write_ok,
    optarc_write_res,
    optarc_commit_args,
    optarc_commit_ok,
    optarc_commit_res,
    optarc_kind,
    optarc_entry,
    optarc_list_args,
    optarc_list_ok,
    optarc_list_res,
    optarc_stat_res,
    optarc_burn_mode,
    optarc_burn_args,
    optarc_burn_copy_args,
    optarc_drive_args,
    optarc_unmount_args,
    optarc_job_res,
    optarc_job_state,
    optarc_job_args,
    optarc_copy_status,
    optarc_volume_status,
    optarc_job_status,
    optarc_job_status_res,
    optarc_drive,
    optarc_drives_res,
    optarc_vol_list_args,
    optarc_vol_read_args,
    optarc_vol_read_ok,
    optarc_vol_read_res,
    optarc_cat_copy,
    optarc_cat_volume,
    optarc_cat_volumes_args,
    optarc_cat_volumes_ok,
    optarc_cat_volumes_res,
    optarc_match,
    optarc_cat_file,
    optarc_cat_find_args,
    optarc_cat_find_ok,
    optarc_cat_find_res,
    optarc_whereis_args,
    optarc_location,
    optarc_whereis_ok,
    optarc_whereis_res,
    optarc_retrieve_mode,
    optarc_retrieve_args,
    optarc_retrieval_state,
    optarc_retrieval,
    optarc_retrieve_res,
    optarc_token_args,
    optarc_cached_args,
    optarc_reburn_args,
    optarc_fixity_args,
    optarc_fixity_check,
    optarc_fixity_ok,
    optarc_fixity_res,
  };
}

export type Codecs = ReturnType<typeof createCodecs>;

export type OptarcStatus = x.Infer<Codecs['optarc_status']>;
export type OptarcPath = x.Infer<Codecs['optarc_path']>;
export type OptarcSha256 = x.Infer<Codecs['optarc_sha256']>;
export type OptarcText = x.Infer<Codecs['optarc_text']>;
export type OptarcSession = x.Infer<Codecs['optarc_session']>;
export type OptarcJob = x.Infer<Codecs['optarc_job']>;
export type OptarcTime = x.Infer<Codecs['optarc_time']>;
export type OptarcBusy = x.Infer<Codecs['optarc_busy']>;
export type OptarcVersions = x.Infer<Codecs['optarc_versions']>;
export type OptarcDigests = x.Infer<Codecs['optarc_digests']>;
export type OptarcSizes = x.Infer<Codecs['optarc_sizes']>;
export type OptarcQuota = x.Infer<Codecs['optarc_quota']>;
export type OptarcDetail = x.Infer<Codecs['optarc_detail']>;
export type OptarcFail = x.Infer<Codecs['optarc_fail']>;
export type OptarcRes = x.Infer<Codecs['optarc_res']>;
export type OptarcHelloArgs = x.Infer<Codecs['optarc_hello_args']>;
export type OptarcHelloOk = x.Infer<Codecs['optarc_hello_ok']>;
export type OptarcHelloRes = x.Infer<Codecs['optarc_hello_res']>;
export type OptarcSessionArgs = x.Infer<Codecs['optarc_session_args']>;
export type OptarcPathArgs = x.Infer<Codecs['optarc_path_args']>;
export type OptarcMkdirArgs = x.Infer<Codecs['optarc_mkdir_args']>;
export type OptarcWriteArgs = x.Infer<Codecs['optarc_write_args']>;
export type OptarcWriteOk = x.Infer<Codecs['optarc_write_ok']>;
export type OptarcWriteRes = x.Infer<Codecs['optarc_write_res']>;
export type OptarcCommitArgs = x.Infer<Codecs['optarc_commit_args']>;
export type OptarcCommitOk = x.Infer<Codecs['optarc_commit_ok']>;
export type OptarcCommitRes = x.Infer<Codecs['optarc_commit_res']>;
export type OptarcKind = x.Infer<Codecs['optarc_kind']>;
export type OptarcEntry = x.Infer<Codecs['optarc_entry']>;
export type OptarcListArgs = x.Infer<Codecs['optarc_list_args']>;
export type OptarcListOk = x.Infer<Codecs['optarc_list_ok']>;
export type OptarcListRes = x.Infer<Codecs['optarc_list_res']>;
export type OptarcStatRes = x.Infer<Codecs['optarc_stat_res']>;
export type OptarcBurnMode = x.Infer<Codecs['optarc_burn_mode']>;
export type OptarcBurnArgs = x.Infer<Codecs['optarc_burn_args']>;
export type OptarcBurnCopyArgs = x.Infer<Codecs['optarc_burn_copy_args']>;
export type OptarcDriveArgs = x.Infer<Codecs['optarc_drive_args']>;
export type OptarcUnmountArgs = x.Infer<Codecs['optarc_unmount_args']>;
export type OptarcJobRes = x.Infer<Codecs['optarc_job_res']>;
export type OptarcJobState = x.Infer<Codecs['optarc_job_state']>;
export type OptarcJobArgs = x.Infer<Codecs['optarc_job_args']>;
export type OptarcCopyStatus = x.Infer<Codecs['optarc_copy_status']>;
export type OptarcVolumeStatus = x.Infer<Codecs['optarc_volume_status']>;
export type OptarcJobStatus = x.Infer<Codecs['optarc_job_status']>;
export type OptarcJobStatusRes = x.Infer<Codecs['optarc_job_status_res']>;
export type OptarcDrive = x.Infer<Codecs['optarc_drive']>;
export type OptarcDrivesRes = x.Infer<Codecs['optarc_drives_res']>;
export type OptarcVolListArgs = x.Infer<Codecs['optarc_vol_list_args']>;
export type OptarcVolReadArgs = x.Infer<Codecs['optarc_vol_read_args']>;
export type OptarcVolReadOk = x.Infer<Codecs['optarc_vol_read_ok']>;
export type OptarcVolReadRes = x.Infer<Codecs['optarc_vol_read_res']>;
export type OptarcCatCopy = x.Infer<Codecs['optarc_cat_copy']>;
export type OptarcCatVolume = x.Infer<Codecs['optarc_cat_volume']>;
export type OptarcCatVolumesArgs = x.Infer<Codecs['optarc_cat_volumes_args']>;
export type OptarcCatVolumesOk = x.Infer<Codecs['optarc_cat_volumes_ok']>;
export type OptarcCatVolumesRes = x.Infer<Codecs['optarc_cat_volumes_res']>;
export type OptarcMatch = x.Infer<Codecs['optarc_match']>;
export type OptarcCatFile = x.Infer<Codecs['optarc_cat_file']>;
export type OptarcCatFindArgs = x.Infer<Codecs['optarc_cat_find_args']>;
export type OptarcCatFindOk = x.Infer<Codecs['optarc_cat_find_ok']>;
export type OptarcCatFindRes = x.Infer<Codecs['optarc_cat_find_res']>;
export type OptarcWhereisArgs = x.Infer<Codecs['optarc_whereis_args']>;
export type OptarcLocation = x.Infer<Codecs['optarc_location']>;
export type OptarcWhereisOk = x.Infer<Codecs['optarc_whereis_ok']>;
export type OptarcWhereisRes = x.Infer<Codecs['optarc_whereis_res']>;
export type OptarcRetrieveMode = x.Infer<Codecs['optarc_retrieve_mode']>;
export type OptarcRetrieveArgs = x.Infer<Codecs['optarc_retrieve_args']>;
export type OptarcRetrievalState = x.Infer<Codecs['optarc_retrieval_state']>;
export type OptarcRetrieval = x.Infer<Codecs['optarc_retrieval']>;
export type OptarcRetrieveRes = x.Infer<Codecs['optarc_retrieve_res']>;
export type OptarcTokenArgs = x.Infer<Codecs['optarc_token_args']>;
export type OptarcCachedArgs = x.Infer<Codecs['optarc_cached_args']>;
export type OptarcReburnArgs = x.Infer<Codecs['optarc_reburn_args']>;
export type OptarcFixityArgs = x.Infer<Codecs['optarc_fixity_args']>;
export type OptarcFixityCheck = x.Infer<Codecs['optarc_fixity_check']>;
export type OptarcFixityOk = x.Infer<Codecs['optarc_fixity_ok']>;
export type OptarcFixityRes = x.Infer<Codecs['optarc_fixity_res']>;

export const OPTARC_PROG = 0x2a7c0001;
export const OPTARC_V1 = 1;
export const OPTARC_NULL = 0;
export const OPTARC_HELLO = 1;
export const OPTARC_BYE = 2;
export const OPTARC_MKDIR = 3;
export const OPTARC_WRITE = 4;
export const OPTARC_COMMIT_FILE = 5;
export const OPTARC_LIST = 6;
export const OPTARC_STAT = 7;
export const OPTARC_REMOVE = 8;
export const OPTARC_BURN = 9;
export const OPTARC_JOB_STATUS = 10;
export const OPTARC_DRIVES = 11;
export const OPTARC_MOUNT = 12;
export const OPTARC_UNMOUNT = 13;
export const OPTARC_VOL_LIST = 14;
export const OPTARC_VOL_READ = 15;
export const OPTARC_COPY = 16;
export const OPTARC_BURN_COPY = 17;
export const OPTARC_CAT_VOLUMES = 18;
export const OPTARC_CAT_FIND = 19;
export const OPTARC_CAT_WHEREIS = 20;
export const OPTARC_RETRIEVE = 21;
export const OPTARC_RETRIEVE_STATUS = 22;
export const OPTARC_RETRIEVE_CACHED = 23;
export const OPTARC_REBURN = 24;
export const OPTARC_FIXITY = 25;

/** Program OPTARC_PROG version OPTARC_V1: each procedure's name, argument and result, by number. */
export function createOptarcV1Procedures(codecs: Codecs = createCodecs()) {
  return {
    [OPTARC_NULL]: { name: 'OPTARC_NULL', args: x.xvoid, result: x.xvoid },
    [OPTARC_HELLO]: { name: 'OPTARC_HELLO', args: codecs.optarc_hello_args, result: codecs.optarc_hello_res },
    [OPTARC_BYE]: { name: 'OPTARC_BYE', args: codecs.optarc_session_args, result: codecs.optarc_res },
    [OPTARC_MKDIR]: { name: 'OPTARC_MKDIR', args: codecs.optarc_mkdir_args, result: codecs.optarc_res },
    [OPTARC_WRITE]: { name: 'OPTARC_WRITE', args: codecs.optarc_write_args, result: codecs.optarc_write_res },
    [OPTARC_COMMIT_FILE]: {
      name: 'OPTARC_COMMIT_FILE',
      args: codecs.optarc_commit_args,
      result: codecs.optarc_commit_res,
    },
    [OPTARC_LIST]: { name: 'OPTARC_LIST', args: codecs.optarc_list_args, result: codecs.optarc_list_res },
    [OPTARC_STAT]: { name: 'OPTARC_STAT', args: codecs.optarc_path_args, result: codecs.optarc_stat_res },
    [OPTARC_REMOVE]: { name: 'OPTARC_REMOVE', args: codecs.optarc_path_args, result: codecs.optarc_res },
    [OPTARC_BURN]: { name: 'OPTARC_BURN', args: codecs.optarc_burn_args, result: codecs.optarc_job_res },
    [OPTARC_JOB_STATUS]: {
      name: 'OPTARC_JOB_STATUS',
      args: codecs.optarc_job_args,
      result: codecs.optarc_job_status_res,
    },
    [OPTARC_DRIVES]: { name: 'OPTARC_DRIVES', args: codecs.optarc_session_args, result: codecs.optarc_drives_res },
    [OPTARC_MOUNT]: { name: 'OPTARC_MOUNT', args: codecs.optarc_drive_args, result: codecs.optarc_res },
    [OPTARC_UNMOUNT]: { name: 'OPTARC_UNMOUNT', args: codecs.optarc_unmount_args, result: codecs.optarc_res },
    [OPTARC_VOL_LIST]: { name: 'OPTARC_VOL_LIST', args: codecs.optarc_vol_list_args, result: codecs.optarc_list_res },
    [OPTARC_VOL_READ]: {
      name: 'OPTARC_VOL_READ',
      args: codecs.optarc_vol_read_args,
      result: codecs.optarc_vol_read_res,
    },
    [OPTARC_COPY]: { name: 'OPTARC_COPY', args: codecs.optarc_drive_args, result: codecs.optarc_job_res },
    [OPTARC_BURN_COPY]: { name: 'OPTARC_BURN_COPY', args: codecs.optarc_burn_copy_args, result: codecs.optarc_job_res },
    [OPTARC_CAT_VOLUMES]: {
      name: 'OPTARC_CAT_VOLUMES',
      args: codecs.optarc_cat_volumes_args,
      result: codecs.optarc_cat_volumes_res,
    },
    [OPTARC_CAT_FIND]: {
      name: 'OPTARC_CAT_FIND',
      args: codecs.optarc_cat_find_args,
      result: codecs.optarc_cat_find_res,
    },
    [OPTARC_CAT_WHEREIS]: {
      name: 'OPTARC_CAT_WHEREIS',
      args: codecs.optarc_whereis_args,
      result: codecs.optarc_whereis_res,
    },
    [OPTARC_RETRIEVE]: {
      name: 'OPTARC_RETRIEVE',
      args: codecs.optarc_retrieve_args,
      result: codecs.optarc_retrieve_res,
    },
    [OPTARC_RETRIEVE_STATUS]: {
      name: 'OPTARC_RETRIEVE_STATUS',
      args: codecs.optarc_token_args,
      result: codecs.optarc_retrieve_res,
    },
    [OPTARC_RETRIEVE_CACHED]: {
      name: 'OPTARC_RETRIEVE_CACHED',
      args: codecs.optarc_cached_args,
      result: codecs.optarc_vol_read_res,
    },
    [OPTARC_REBURN]: { name: 'OPTARC_REBURN', args: codecs.optarc_reburn_args, result: codecs.optarc_job_res },
    [OPTARC_FIXITY]: { name: 'OPTARC_FIXITY', args: codecs.optarc_fixity_args, result: codecs.optarc_fixity_res },
  } as const;
}
