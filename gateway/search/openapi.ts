/**
 * The search API's OpenAPI 3.1 description, served at GET /api/v1/openapi.json.
 * test/gateway/search-api.test.ts checks it against the route table (every
 * /api/ route described, nothing described that is not routed) and validates
 * real answers against its schemas, so it cannot drift from what is served.
 */

const error = {
  type: 'object',
  required: ['error', 'message'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'string',
      enum: [
        'BAD_QUERY',
        'BAD_CURSOR',
        'QUERY_TOO_LONG',
        'UNAUTHORIZED',
        'FORBIDDEN_SITE',
        'NOT_FOUND',
        'INDEX_UNAVAILABLE',
        'INTERNAL',
      ],
    },
    message: { type: 'string' },
  },
};

const copy = {
  type: 'object',
  required: ['copy', 'drive', 'medium', 'verifiedAt'],
  additionalProperties: false,
  properties: {
    copy: { type: 'integer', minimum: 1 },
    drive: { type: 'string' },
    medium: { type: ['string', 'null'], description: 'Where the disc is: a shelf slot or the stand-in file.' },
    verifiedAt: { type: 'string', format: 'date-time' },
  },
};

const extent = {
  type: 'object',
  required: ['offset', 'length'],
  additionalProperties: false,
  properties: { offset: { type: 'integer', minimum: 0 }, length: { type: 'integer', minimum: 0 } },
};

const restore = {
  type: ['object', 'null'],
  description:
    'Presigned GETs of exactly the file\'s bytes inside the image object: send each URL with its "range" as the Range header and concatenate the answers in order (one range per extent; files over 4 GiB have several). Null when the gateway has no S3 bucket configured.',
  required: ['expiresAt', 'ranges', 'curl'],
  additionalProperties: false,
  properties: {
    expiresAt: { type: 'string', format: 'date-time' },
    ranges: {
      type: 'array',
      items: {
        type: 'object',
        required: ['url', 'range', 'offset', 'length'],
        additionalProperties: false,
        properties: {
          url: { type: 'string' },
          range: { type: 'string', pattern: '^bytes=[0-9]+-[0-9]+$' },
          offset: { type: 'integer', minimum: 0 },
          length: { type: 'integer', minimum: 1 },
        },
      },
    },
    curl: { type: 'string', description: 'A shell command that downloads the file to its base name.' },
  },
};

const file = {
  type: 'object',
  required: [
    'site',
    'vsn',
    'path',
    'size',
    'sha256',
    'modified',
    'mode',
    'session',
    'part',
    'volumeCreatedAt',
    'copies',
    'object',
    'extents',
    'restore',
  ],
  additionalProperties: false,
  properties: {
    site: { type: 'string' },
    vsn: { type: 'string' },
    path: { type: 'string' },
    size: { type: 'integer', minimum: 0, description: "Bytes of this entry: for a part, the part's length." },
    sha256: {
      type: 'string',
      pattern: '^[0-9a-f]{64}$',
      description: 'SHA-256 of the whole file (for a part too: the parts joined in order give it).',
    },
    modified: { type: 'string', format: 'date-time', description: "The file's mtime." },
    mode: { type: 'integer' },
    session: { type: 'integer', minimum: 1, description: 'The disc session that added the file.' },
    part: {
      type: ['object', 'null'],
      description: 'Set when a file too big for one disc was cut into parts across volumes.',
      required: ['index', 'count', 'offset', 'length'],
      additionalProperties: false,
      properties: {
        index: { type: 'integer' },
        count: { type: 'integer' },
        offset: { type: 'integer' },
        length: { type: 'integer' },
      },
    },
    volumeCreatedAt: { type: 'string', format: 'date-time' },
    copies: { type: 'array', items: copy },
    object: {
      type: 'object',
      required: ['key', 'versionId'],
      additionalProperties: false,
      properties: { key: { type: 'string' }, versionId: { type: 'string' } },
    },
    extents: { type: 'array', items: extent },
    restore,
  },
};

const fixity = {
  type: 'object',
  description:
    "The latest fixity check an agent reported for one target of the volume: its cloud image, or a disc (SHA-256 of the image's bytes against the volume's).",
  required: ['target', 'ok', 'checkedAt', 'bytes', 'detail'],
  additionalProperties: false,
  properties: {
    target: {
      type: 'string',
      pattern: '^(cloud|copy [1-9][0-9]{0,3}|disc [A-Za-z0-9._:-]{1,64})$',
      description: '`cloud` (the image object), `copy N` or `disc DRIVE` (a disc loaded in DRIVE).',
    },
    ok: { type: 'boolean' },
    checkedAt: { type: 'string', format: 'date-time' },
    bytes: { type: 'integer', minimum: 0, description: 'Bytes read and hashed.' },
    detail: { type: 'string', description: 'What failed and the remedy proposed; empty when ok.' },
  },
};

const volume = {
  type: 'object',
  required: [
    'site',
    'vsn',
    'label',
    'media',
    'createdAt',
    'mirroredAt',
    'sessions',
    'files',
    'bytes',
    'copies',
    'image',
    'manifest',
    'fixity',
  ],
  additionalProperties: false,
  properties: {
    site: { type: 'string' },
    vsn: { type: 'string' },
    label: { type: 'string' },
    media: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    mirroredAt: { type: 'string', format: 'date-time' },
    sessions: { type: 'integer' },
    files: { type: 'integer', minimum: 0 },
    bytes: { type: 'integer', minimum: 0 },
    copies: { type: 'array', items: copy },
    image: {
      type: 'object',
      required: ['key', 'versionId', 'bytes', 'sha256'],
      additionalProperties: false,
      properties: {
        key: { type: 'string' },
        versionId: { type: 'string' },
        bytes: { type: 'integer' },
        sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
      },
    },
    manifest: {
      type: 'object',
      required: ['key'],
      additionalProperties: false,
      properties: { key: { type: 'string' } },
    },
    fixity: {
      type: 'array',
      items: fixity,
      description: 'The latest fixity check of each target, by target; empty until the agent reports one.',
    },
  },
};

const cursorParam = {
  name: 'cursor',
  in: 'query',
  description: "The previous page's `next`, unchanged, with the same other parameters.",
  schema: { type: 'string', maxLength: 2048 },
};
const limitParam = {
  name: 'limit',
  in: 'query',
  description: 'Results per page.',
  schema: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
};
const siteParam = {
  name: 'site',
  in: 'query',
  description: 'Only this site (one the token reads; another is refused 403). Default: every site the token reads.',
  schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' },
};
const newSinceParam = {
  name: 'newSince',
  in: 'query',
  description: 'Only volumes created at or after this date (YYYY-MM-DD, UTC) or date-time.',
  schema: { type: 'string' },
};
const errors = {
  '400': { description: 'A bad query (BAD_QUERY) or cursor (BAD_CURSOR)', content: json(ref('Error')) },
  '401': { description: 'No or an unknown, revoked or expired reader token', content: json(ref('Error')) },
  '403': { description: 'A site the token does not read (FORBIDDEN_SITE)', content: json(ref('Error')) },
  '414': { description: 'The query string is too long (QUERY_TOO_LONG)', content: json(ref('Error')) },
  '503': { description: 'The gateway runs without an index (INDEX_UNAVAILABLE)', content: json(ref('Error')) },
};

function ref(name: string) {
  return { $ref: `#/components/schemas/${name}` };
}
function json(schema: unknown) {
  return { 'application/json': { schema } };
}

export const OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'optarc manifest search',
    version: '1',
    description:
      'Find which optical volume holds a file, where its copies are, and restore it from the cloud with ranged GETs. Every request carries a reader token (`optarc-gateway readers add --site S`) as `Authorization: Bearer`; a reader sees only its sites.',
  },
  components: {
    securitySchemes: { reader: { type: 'http', scheme: 'bearer' } },
    schemas: { Error: error, File: file, Volume: volume, Copy: copy, Extent: extent, Fixity: fixity },
  },
  security: [{ reader: [] }],
  paths: {
    '/api/v1/files': {
      get: {
        operationId: 'findFiles',
        summary: 'Files matching every given filter, in the order site, VSN, path',
        parameters: [
          {
            name: 'q',
            in: 'query',
            description: 'A substring of the path, 3 characters or more, ASCII case-insensitive.',
            schema: { type: 'string', minLength: 3, maxLength: 1024 },
          },
          {
            name: 'glob',
            in: 'query',
            description:
              'A glob the whole path must match: `*` any run of characters (slashes too), `?` one character, `[abc]`, `[!a-z]`; `\\` quotes the next character.',
            schema: { type: 'string', maxLength: 1024 },
          },
          {
            name: 'regex',
            in: 'query',
            description:
              'A JavaScript regular expression searched in the path, run by a linear-time engine: back-references and lookaround are refused (400).',
            schema: { type: 'string', maxLength: 1024 },
          },
          { name: 'path', in: 'query', description: 'The whole path, exactly.', schema: { type: 'string' } },
          { name: 'sha256', in: 'query', schema: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' } },
          siteParam,
          { name: 'vsn', in: 'query', schema: { type: 'string', pattern: '^[A-Z0-9_]{1,32}$' } },
          { name: 'sizeMin', in: 'query', schema: { type: 'integer', minimum: 0 } },
          { name: 'sizeMax', in: 'query', schema: { type: 'integer', minimum: 0 } },
          {
            name: 'modifiedFrom',
            in: 'query',
            description: 'mtime at or after this date (YYYY-MM-DD, UTC) or date-time.',
            schema: { type: 'string' },
          },
          {
            name: 'modifiedBefore',
            in: 'query',
            description: 'mtime before this date or date-time.',
            schema: { type: 'string' },
          },
          newSinceParam,
          limitParam,
          cursorParam,
        ],
        responses: {
          '200': {
            description:
              'A page of files. `next` continues (null: no more). `complete` is false when a glob or regex scan stopped at its time budget before filling the page: follow `next` to scan on.',
            content: json({
              type: 'object',
              required: ['files', 'next', 'complete'],
              additionalProperties: false,
              properties: {
                files: { type: 'array', items: ref('File') },
                next: { type: ['string', 'null'] },
                complete: { type: 'boolean' },
              },
            }),
          },
          ...errors,
        },
      },
    },
    '/api/v1/volumes': {
      get: {
        operationId: 'listVolumes',
        summary: 'Volumes, in the order site, VSN',
        parameters: [siteParam, newSinceParam, limitParam, cursorParam],
        responses: {
          '200': {
            description: 'A page of volumes; `next` continues (null: no more).',
            content: json({
              type: 'object',
              required: ['volumes', 'next'],
              additionalProperties: false,
              properties: { volumes: { type: 'array', items: ref('Volume') }, next: { type: ['string', 'null'] } },
            }),
          },
          ...errors,
        },
      },
    },
    '/api/v1/volumes/{site}/{vsn}': {
      get: {
        operationId: 'getVolume',
        summary: 'One volume (its files: /api/v1/files?site=S&vsn=V)',
        parameters: [
          { name: 'site', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'vsn', in: 'path', required: true, schema: { type: 'string' } },
        ],
        responses: {
          '200': {
            description: 'The volume',
            content: json({
              type: 'object',
              required: ['volume'],
              additionalProperties: false,
              properties: { volume: ref('Volume') },
            }),
          },
          '404': { description: 'No such volume (NOT_FOUND)', content: json(ref('Error')) },
          ...errors,
        },
      },
    },
    '/api/v1/openapi.json': {
      get: {
        operationId: 'openapi',
        summary: 'This description',
        security: [],
        responses: { '200': { description: 'OpenAPI 3.1', content: json({ type: 'object' }) } },
      },
    },
  },
} as const;
