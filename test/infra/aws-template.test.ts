/**
 * The AWS deployment description (infra/aws/gateway.template.json) against the
 * code it deploys: its websocket and HTTP routes are exactly the route table's
 * (gateway/handlers/routes.ts), each reaches a function whose Handler names a
 * function exported by dist/gateway/lambda.js, every Ref / GetAtt / Sub names
 * something that exists, and the bucket's Object Lock follows its parameter.
 * Then the Lambda entry points run on API-Gateway-shaped events, with the store
 * in a temp dir and the management API played by a local HTTP server.
 *
 * No AWS account is needed; nothing here validates the template against AWS's
 * resource schemas (cfn-lint would, it is not part of the suite).
 */

import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import test from 'ava';
import { envName } from '../../config/load.js';
import { GoneError } from '../../gateway/handlers/events.js';
import { HTTP_ROUTES, WEBSOCKET_ROUTES } from '../../gateway/handlers/routes.js';
import { AgentTokens } from '../../gateway/identity/agent-tokens.js';
import { decodeGatewayMessage } from '../../gateway/protocol/codec.js';
import { PROTOCOL_VERSION } from '../../gateway/protocol/session-messages.js';
import { GatewayStore } from '../../gateway/store/gateway-store.js';
import { type RgwEndpoint, s3ClientConfig } from '../../infra/rgw/s3-config.js';
import { ROOT } from '../helpers/processes.js';
import { freshBucket, rgwMissing, sharedRgw } from '../helpers/test-rgw.js';

// --- the template -------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };
interface Resource {
  Type: string;
  Properties?: Obj;
  DependsOn?: string | string[];
  Condition?: string;
  [k: string]: Json | undefined;
}
interface Template {
  AWSTemplateFormatVersion: string;
  Parameters: Record<string, Obj>;
  Conditions: Record<string, Json>;
  Resources: Record<string, Resource>;
  Outputs: Record<string, Obj>;
  [k: string]: unknown;
}

const TEMPLATE_FILE = path.join(ROOT, 'infra/aws/gateway.template.json');
const template = JSON.parse(readFileSync(TEMPLATE_FILE, 'utf8')) as Template;
const resources = template.Resources;

const PSEUDO = new Set([
  'AWS::AccountId',
  'AWS::NotificationARNs',
  'AWS::NoValue',
  'AWS::Partition',
  'AWS::Region',
  'AWS::StackId',
  'AWS::StackName',
  'AWS::URLSuffix',
]);

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function ofType(type: string): [string, Resource][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

/** The names in a Fn::Sub string (`${Name}`, `${Name.Attr}`; `${!Literal}` is not one). */
function subNames(text: string): string[] {
  return [...text.matchAll(/\$\{([^}!][^}]*)\}/g)].map((m) => m[1]!.trim());
}

/** The logical id a value points at: `{Ref: X}`, `{Fn::GetAtt: [X, ...]}` or a Sub of exactly `...${X}` / `${X.Arn}`. */
function target(value: Json | undefined): string | undefined {
  if (!isObj(value)) return undefined;
  if (typeof value.Ref === 'string') return value.Ref;
  const getAtt = value['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  if (typeof getAtt === 'string') return getAtt.split('.')[0];
  return undefined;
}

/** The integration a route's Target names (`integrations/${X}` as Fn::Sub or Fn::Join). */
function routeIntegration(route: Resource): string | undefined {
  const t = route.Properties?.Target;
  if (!isObj(t)) return undefined;
  const sub = t['Fn::Sub'];
  if (typeof sub === 'string') return /^integrations\/\$\{([A-Za-z0-9]+)\}$/.exec(sub)?.[1];
  const join = t['Fn::Join'];
  if (Array.isArray(join) && Array.isArray(join[1]) && join[1][0] === 'integrations') return target(join[1][1]);
  return undefined;
}

/** The function an integration invokes (its ARN by GetAtt, or inside the apigateway invocation URI). */
function integrationFunction(integration: Resource): string | undefined {
  const uri = integration.Properties?.IntegrationUri;
  const direct = target(uri);
  if (direct) return direct;
  if (isObj(uri) && typeof uri['Fn::Sub'] === 'string') {
    return /\/functions\/\$\{([A-Za-z0-9]+)\.Arn\}\/invocations$/.exec(uri['Fn::Sub'])?.[1];
  }
  return undefined;
}

/** The API (by Ref) a route or integration belongs to. */
const apiOf = (r: Resource) => target(r.Properties?.ApiId);

function apiIdOfProtocol(protocol: 'WEBSOCKET' | 'HTTP'): string {
  const apis = ofType('AWS::ApiGatewayV2::Api').filter(([, r]) => r.Properties?.ProtocolType === protocol);
  if (apis.length !== 1) throw new Error(`expected one ${protocol} API, found ${apis.length}`);
  return apis[0]![0];
}

function routesOf(apiId: string): Map<string, Resource> {
  const out = new Map<string, Resource>();
  for (const [, r] of ofType('AWS::ApiGatewayV2::Route')) {
    if (apiOf(r) === apiId) out.set(String(r.Properties?.RouteKey), r);
  }
  return out;
}

/** Route key → the function resource behind it (through its integration). */
function functionBehind(route: Resource): { id: string; fn: Resource } {
  const integrationId = routeIntegration(route);
  const integration = integrationId ? resources[integrationId] : undefined;
  if (!integration || integration.Type !== 'AWS::ApiGatewayV2::Integration') {
    throw new Error(`route ${route.Properties?.RouteKey}: no integration (${integrationId})`);
  }
  const id = integrationFunction(integration);
  const fn = id ? resources[id] : undefined;
  if (!fn || fn.Type !== 'AWS::Lambda::Function') {
    throw new Error(`integration ${integrationId}: no Lambda function (${id})`);
  }
  return { id: id!, fn };
}

/** `dist/gateway/lambda.connect` → the exported value, imported from the built file. */
async function exportNamedBy(handler: string): Promise<{ file: string; name: string; value: unknown }> {
  const dot = handler.lastIndexOf('.');
  const file = path.join(ROOT, `${handler.slice(0, dot)}.js`);
  const name = handler.slice(dot + 1);
  const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  return { file, name, value: mod[name] };
}

/** A resource JSON to paste into the template for an HTTP route it lacks. */
function routeSnippet(routeKey: string): string {
  const [method = '', routePath = ''] = routeKey.split(' ');
  const words = [method.toLowerCase(), ...routePath.split(/[^A-Za-z0-9]+/)].filter(Boolean);
  const id = `HttpRoute${words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('')}`;
  const resource = {
    Type: 'AWS::ApiGatewayV2::Route',
    Properties: {
      ApiId: { Ref: 'HttpApi' },
      RouteKey: routeKey,
      Target: { 'Fn::Sub': `integrations/\${HttpIntegration}` },
    },
  };
  return `"${id}": ${JSON.stringify(resource)}`;
}

/** Evaluates a condition for given parameter values (Fn::Equals / Not / And / Or, Ref, Condition). */
function evalCondition(node: Json, params: Record<string, string>): Json {
  if (!isObj(node)) return node;
  if (typeof node.Ref === 'string') {
    if (!(node.Ref in params)) throw new Error(`no value for parameter ${node.Ref}`);
    return params[node.Ref]!;
  }
  if (typeof node.Condition === 'string') return evalCondition(template.Conditions[node.Condition]!, params);
  const [fn, args] = Object.entries(node)[0] as [string, Json[]];
  const values = args.map((a) => evalCondition(a, params));
  switch (fn) {
    case 'Fn::Equals':
      return String(values[0]) === String(values[1]);
    case 'Fn::Not':
      return !values[0];
    case 'Fn::And':
      return values.every(Boolean);
    case 'Fn::Or':
      return values.some(Boolean);
    default:
      throw new Error(`cannot evaluate ${fn}`);
  }
}

// --- the Lambda module, with its store in a temp dir and a fake management API --

interface Posted {
  method: string;
  url: string;
  body: string;
}
const posted: Posted[] = [];
/** Connection ids the fake management API answers 410 for. */
const goneIds = new Set<string>();
const managementApi = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const url = req.url ?? '';
    posted.push({ method: req.method ?? '', url, body: Buffer.concat(chunks).toString('utf8') });
    const id = decodeURIComponent(url.split('/').pop() ?? '');
    if (goneIds.has(id)) {
      res
        .writeHead(410, { 'content-type': 'application/json', 'x-amzn-errortype': 'GoneException' })
        .end('{"message":null}');
    } else res.writeHead(200).end();
  });
});
const stateDir = mkdtempSync(path.join(tmpdir(), 'optarc-lambda-'));
const storeFile = path.join(stateDir, 'gateway.sqlite');
let lambda: typeof import('../../gateway/lambda.js');
let bucket = '';
let rgwEndpoint: RgwEndpoint | undefined;

// The environment is set before the module is first imported, as Lambda sets it before the runtime starts.
test.before(async () => {
  await new Promise<void>((resolve) => managementApi.listen(0, '127.0.0.1', resolve));
  process.env.OPTARC_GATEWAY_STORE = storeFile;
  process.env.OPTARC_GATEWAY_MANAGEMENT_ENDPOINT = `http://127.0.0.1:${(managementApi.address() as AddressInfo).port}/prod`;
  // What Lambda's environment provides; the fake management API ignores the signature.
  process.env.AWS_REGION = 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID = 'AKIDTESTTESTTEST';
  process.env.AWS_SECRET_ACCESS_KEY = 'test-secret';
  delete process.env.AWS_PROFILE;
  // The bucket: the shared test RGW when Ceph is here (as an S3-compatible endpoint), else none answers.
  if (!rgwMissing()) {
    const rgw = await sharedRgw();
    bucket = await freshBucket(rgw, 'optarc-lambda');
    process.env.OPTARC_GATEWAY_S3_ENDPOINT = rgw.endpoint;
    process.env.OPTARC_GATEWAY_S3_ACCESS_KEY_ID = rgw.accessKeyId;
    process.env.OPTARC_GATEWAY_S3_SECRET_ACCESS_KEY = rgw.secretAccessKey;
    process.env.OPTARC_GATEWAY_S3_BUCKET = bucket;
    rgwEndpoint = rgw;
  }
  lambda = await import('../../gateway/lambda.js');
});
test.after.always(() => new Promise<void>((resolve) => managementApi.close(() => resolve())));

const wsEvent = (routeKey: string, connectionId: string, extra: Record<string, unknown> = {}) => ({
  requestContext: {
    routeKey,
    connectionId,
    eventType: routeKey === '$connect' ? 'CONNECT' : routeKey === '$disconnect' ? 'DISCONNECT' : 'MESSAGE',
  } as const,
  ...extra,
});

const httpEvent = (routeKey: string, rawPath: string, extra: Record<string, unknown> = {}) => ({
  version: '2.0',
  routeKey,
  rawPath,
  rawQueryString: '',
  headers: { host: 'example.execute-api.us-east-1.amazonaws.com' },
  requestContext: { http: { method: routeKey.split(' ')[0], path: rawPath, sourceIp: '192.0.2.1' } },
  isBase64Encoded: false,
  ...extra,
});

// --- structure ----------------------------------------------------------------

test('the template has the CloudFormation basics: version, typed resources, known keys, parameters and outputs', (t) => {
  t.is(template.AWSTemplateFormatVersion, '2010-09-09');
  const sections = new Set([
    'AWSTemplateFormatVersion',
    'Description',
    'Metadata',
    'Parameters',
    'Rules',
    'Mappings',
    'Conditions',
    'Transform',
    'Resources',
    'Outputs',
  ]);
  t.deepEqual(
    Object.keys(template).filter((k) => !sections.has(k)),
    [],
  );
  t.true(isObj(resources) && Object.keys(resources).length > 0);
  const resourceKeys = new Set([
    'Type',
    'Properties',
    'DependsOn',
    'Condition',
    'DeletionPolicy',
    'UpdateReplacePolicy',
    'Metadata',
    'CreationPolicy',
    'UpdatePolicy',
  ]);
  for (const [id, r] of Object.entries(resources)) {
    t.regex(id, /^[A-Za-z0-9]{1,255}$/, `logical id ${id}`);
    t.regex(String(r.Type), /^AWS::[A-Za-z0-9]+::[A-Za-z0-9]+$/, `${id}.Type`);
    t.true(r.Properties === undefined || isObj(r.Properties), `${id}.Properties is an object`);
    t.deepEqual(
      Object.keys(r).filter((k) => !resourceKeys.has(k)),
      [],
      `${id} has only resource attributes`,
    );
  }
  for (const [id, p] of Object.entries(template.Parameters)) t.is(typeof p.Type, 'string', `parameter ${id}.Type`);
  for (const [id, o] of Object.entries(template.Outputs)) t.true('Value' in o, `output ${id}.Value`);
  for (const [id, fn] of ofType('AWS::Lambda::Function')) t.is(fn.Properties?.Runtime, 'nodejs20.x', id);
});

test('every Ref, GetAtt, Sub name, condition and DependsOn in the template exists', (t) => {
  const params = new Set(Object.keys(template.Parameters));
  const conditions = new Set(Object.keys(template.Conditions ?? {}));
  const missing: string[] = [];
  let seen = 0;
  const need = (ok: boolean, what: string, where: string) => {
    seen++;
    if (!ok) missing.push(`${where}: ${what}`);
  };
  const refOk = (name: string) => name in resources || params.has(name) || PSEUDO.has(name);
  const walk = (node: Json | undefined, where: string): void => {
    if (Array.isArray(node)) {
      for (const [i, n] of node.entries()) walk(n, `${where}[${i}]`);
    }
    if (!isObj(node)) return;
    for (const [k, v] of Object.entries(node)) {
      if (k === 'Ref') need(typeof v === 'string' && refOk(v), `Ref ${JSON.stringify(v)}`, where);
      else if (k === 'Fn::GetAtt') {
        const id = Array.isArray(v) ? v[0] : typeof v === 'string' ? v.split('.')[0] : undefined;
        need(typeof id === 'string' && id in resources, `GetAtt ${JSON.stringify(v)}`, where);
      } else if (k === 'Fn::Sub') {
        const [text, vars] = Array.isArray(v) ? [v[0], v[1]] : [v, {}];
        const local = new Set(isObj(vars) ? Object.keys(vars) : []);
        for (const name of subNames(String(text))) {
          const ok = name.includes('.') && !name.startsWith('AWS::') ? name.split('.')[0]! in resources : refOk(name);
          need(ok || local.has(name), `Sub \${${name}}`, where);
        }
        if (isObj(vars)) walk(vars, `${where}.Fn::Sub`);
      } else if (k === 'Fn::If') {
        const cond = Array.isArray(v) ? v[0] : undefined;
        need(typeof cond === 'string' && conditions.has(cond), `Fn::If condition ${JSON.stringify(cond)}`, where);
      } else if (k === 'Condition' && typeof v === 'string') {
        need(conditions.has(v), `Condition ${v}`, where);
      }
      walk(v, `${where}.${k}`);
    }
  };
  for (const [id, r] of Object.entries(resources)) {
    walk(r.Properties, `Resources.${id}`);
    if (r.Condition !== undefined) need(conditions.has(r.Condition), `Condition ${r.Condition}`, `Resources.${id}`);
    for (const dep of [r.DependsOn ?? []].flat()) need(dep in resources, `DependsOn ${dep}`, `Resources.${id}`);
  }
  walk(template.Outputs as Json, 'Outputs');
  walk(template.Conditions as Json, 'Conditions');
  t.deepEqual(missing, []);
  t.true(seen > 50, `only ${seen} references checked`);
});

// --- routes against the code ---------------------------------------------------

test('the websocket API has exactly $connect, $disconnect and $default, each on its lambda.js export', async (t) => {
  const ws = apiIdOfProtocol('WEBSOCKET');
  t.not(resources[ws]!.Properties?.RouteSelectionExpression, '$request.body.type');
  const routes = routesOf(ws);
  t.deepEqual([...routes.keys()].sort(), Object.keys(WEBSOCKET_ROUTES).sort());
  const expected: Record<string, string> = { $connect: 'connect', $disconnect: 'disconnect', $default: 'message' };
  for (const routeKey of Object.keys(WEBSOCKET_ROUTES)) {
    const route = routes.get(routeKey);
    if (!route) continue;
    const { id, fn } = functionBehind(route);
    const handler = String(fn.Properties?.Handler);
    const exported = await exportNamedBy(handler);
    t.is(exported.file, path.join(ROOT, 'dist/gateway/lambda.js'), `${routeKey} → ${id} (${handler})`);
    t.is(exported.name, expected[routeKey], `${routeKey} runs lambda.${expected[routeKey]}`);
    t.is(typeof exported.value, 'function', `${handler} is an exported function`);
    // API Gateway may invoke it: a permission for this function, from this API.
    const permitted = ofType('AWS::Lambda::Permission').some(
      ([, p]) =>
        target(p.Properties?.FunctionName) === id &&
        p.Properties?.Principal === 'apigateway.amazonaws.com' &&
        subNames(String((p.Properties?.SourceArn as Obj)?.['Fn::Sub'] ?? '')).includes(ws),
    );
    t.true(permitted, `${id} has an invoke permission for ${ws}`);
  }
  const stages = ofType('AWS::ApiGatewayV2::Stage').filter(([, s]) => apiOf(s) === ws);
  t.is(stages.length, 1, 'one websocket stage');
});

test('the HTTP API has one route per key of HTTP_ROUTES, all on lambda.http with payload 2.0', async (t) => {
  const api = apiIdOfProtocol('HTTP');
  const routes = routesOf(api);
  const inTemplate = new Set(routes.keys());
  const inCode = new Set(Object.keys(HTTP_ROUTES));
  const missing = [...inCode].filter((k) => !inTemplate.has(k));
  const extra = [...inTemplate].filter((k) => !inCode.has(k));
  t.deepEqual(
    missing,
    [],
    `HTTP routes in gateway/handlers/routes.ts but not in ${path.relative(ROOT, TEMPLATE_FILE)}; add to its Resources:\n${missing.map(routeSnippet).join(',\n')}`,
  );
  t.deepEqual(extra, [], 'HTTP routes in the template that HTTP_ROUTES does not have');
  for (const [routeKey, route] of routes) {
    const integration = resources[routeIntegration(route) ?? '']!;
    t.is(integration?.Properties?.PayloadFormatVersion, '2.0', routeKey);
    const { id, fn } = functionBehind(route);
    const exported = await exportNamedBy(String(fn.Properties?.Handler));
    t.is(exported.file, path.join(ROOT, 'dist/gateway/lambda.js'), `${routeKey} → ${id}`);
    t.is(exported.name, 'http', routeKey);
    t.is(typeof exported.value, 'function');
  }
  const stages = ofType('AWS::ApiGatewayV2::Stage').filter(([, s]) => apiOf(s) === api);
  t.is(stages.length, 1);
  // $default stage: rawPath carries no stage prefix, as under the local host.
  t.is(stages[0]![1].Properties?.StageName, '$default');
});

test('an EventBridge schedule runs lambda.sweep, with permission to invoke it', async (t) => {
  const rules = ofType('AWS::Events::Rule').filter(([, r]) => r.Properties?.ScheduleExpression !== undefined);
  t.is(rules.length, 1);
  const [ruleId, rule] = rules[0]!;
  const targets = rule.Properties?.Targets as Obj[];
  t.is(targets.length, 1);
  const fnId = target(targets[0].Arn)!;
  const exported = await exportNamedBy(String(resources[fnId]?.Properties?.Handler));
  t.is(exported.name, 'sweep');
  t.is(typeof exported.value, 'function');
  t.true(
    ofType('AWS::Lambda::Permission').some(
      ([, p]) =>
        target(p.Properties?.FunctionName) === fnId &&
        p.Properties?.Principal === 'events.amazonaws.com' &&
        target(p.Properties?.SourceArn) === ruleId,
    ),
  );
});

test('every function gets the store path, the bucket and the management endpoint under the names the code reads', (t) => {
  const bucket = ofType('AWS::S3::Bucket')[0]![0];
  const ws = apiIdOfProtocol('WEBSOCKET');
  for (const [id, fn] of ofType('AWS::Lambda::Function')) {
    const vars = (fn.Properties?.Environment as Obj)?.Variables as Obj;
    t.truthy(vars?.[lambda.STORE_ENV], `${id}: ${lambda.STORE_ENV}`);
    t.is(lambda.STORE_ENV, envName('gateway.store'));
    t.deepEqual(vars?.[envName('gateway.s3.bucket')], { Ref: bucket }, `${id}: bucket`);
    t.deepEqual(vars?.[envName('gateway.s3.region')], { Ref: 'AWS::Region' }, `${id}: region`);
    const endpoint = String((vars?.[lambda.MANAGEMENT_ENDPOINT_ENV] as Obj)?.['Fn::Sub']);
    t.regex(endpoint, /^https:\/\/\$\{[A-Za-z0-9]+\}\.execute-api\./, `${id}: management endpoint`);
    t.true(subNames(endpoint).includes(ws));
    t.true(Array.isArray(fn.Properties?.Architectures), id);
  }
});

test('only the role of the websocket message and HTTP functions may post to connections, on this API only', (t) => {
  const ws = apiIdOfProtocol('WEBSOCKET');
  const bucket = ofType('AWS::S3::Bucket')[0]![0];
  const roleOf = (handler: string): string => {
    const fn = ofType('AWS::Lambda::Function').find(([, f]) => f.Properties?.Handler === handler);
    const role = target(fn?.[1].Properties?.Role);
    if (!role) throw new Error(`no function with Handler ${handler}, or it has no role`);
    return role;
  };
  const statements = (roleId: string) =>
    ((resources[roleId]!.Properties?.Policies as Obj[]) ?? []).flatMap(
      (p) => ((p.PolicyDocument as Obj).Statement as Obj[]) ?? [],
    );
  const actions = (s: Obj) => [s.Action].flat().map(String);
  for (const handler of ['dist/gateway/lambda.message', 'dist/gateway/lambda.http']) {
    const manage = statements(roleOf(handler)).filter((s) => actions(s).includes('execute-api:ManageConnections'));
    t.is(manage.length, 1, handler);
    const arn = String((manage[0]!.Resource as Obj)['Fn::Sub']);
    t.true(subNames(arn).includes(ws));
    t.regex(arn, /\/POST\/@connections\/\*$/);
  }
  for (const handler of [
    'dist/gateway/lambda.connect',
    'dist/gateway/lambda.disconnect',
    'dist/gateway/lambda.sweep',
  ]) {
    t.false(
      statements(roleOf(handler)).some((s) => actions(s).some((a) => a.startsWith('execute-api:'))),
      `${handler} cannot post`,
    );
  }
  for (const [id] of ofType('AWS::IAM::Role')) {
    for (const s of statements(id)) {
      t.false(
        actions(s).some((a) => a === '*' || a.endsWith(':*')),
        `${id}: no wildcard actions`,
      );
      t.not(s.Resource, '*', `${id}: no wildcard resource`);
      if (actions(s).some((a) => a.startsWith('s3:'))) {
        const r = s.Resource as Obj;
        const on = target(r) ?? subNames(String(r['Fn::Sub']))[0]?.split('.')[0];
        t.is(on, bucket, `${id}: s3 only on the archive bucket`);
      }
    }
  }
});

test('the bucket: versioned, private, aborting stale multipart uploads, Object Lock by ObjectLockDays', (t) => {
  const buckets = ofType('AWS::S3::Bucket');
  t.is(buckets.length, 1);
  const [, bucket] = buckets[0]!;
  const p = bucket.Properties!;
  t.deepEqual(p.VersioningConfiguration, { Status: 'Enabled' });
  t.deepEqual(p.PublicAccessBlockConfiguration, {
    BlockPublicAcls: true,
    BlockPublicPolicy: true,
    IgnorePublicAcls: true,
    RestrictPublicBuckets: true,
  });
  const rules = (p.LifecycleConfiguration as Obj).Rules as Obj[];
  const abort = rules.find((r) => isObj(r.AbortIncompleteMultipartUpload));
  t.is(abort?.Status, 'Enabled');
  const days = (abort?.AbortIncompleteMultipartUpload as Obj).DaysAfterInitiation;
  t.true(target(days)! in template.Parameters);

  // Both Object Lock properties hang on one condition, which follows ObjectLockDays.
  const enabled = (p.ObjectLockEnabled as Obj)['Fn::If'] as Json[];
  const config = (p.ObjectLockConfiguration as Obj)['Fn::If'] as Json[];
  t.is(enabled[0], config[0]);
  const condition = template.Conditions[String(enabled[0])]!;
  t.truthy(condition);
  t.true(JSON.stringify(condition).includes('"Ref":"ObjectLockDays"'));
  const on = (d: string) => evalCondition(condition, { ObjectLockDays: d });
  t.false(on('0'));
  t.true(on('1'));
  t.true(on('3650'));
  t.is(template.Parameters.ObjectLockDays!.Default, 0);
  t.is(enabled[1], true);
  t.deepEqual(enabled[2], { Ref: 'AWS::NoValue' });
  t.deepEqual(config[2], { Ref: 'AWS::NoValue' });
  const lock = config[1] as Obj;
  t.is(lock.ObjectLockEnabled, 'Enabled');
  const retention = (lock.Rule as Obj).DefaultRetention as Obj;
  t.deepEqual(retention.Days, { Ref: 'ObjectLockDays' });
  const mode = target(retention.Mode)!;
  t.deepEqual([...((template.Parameters[mode]!.AllowedValues as string[]) ?? [])].sort(), ['COMPLIANCE', 'GOVERNANCE']);
  t.is(bucket.DeletionPolicy, 'Retain');
});

// --- the entry points ----------------------------------------------------------

test('lambda.http answers GET /healthz from the store at OPTARC_GATEWAY_STORE, 404 for any other route key', async (t) => {
  const ok = await lambda.http(httpEvent('GET /healthz', '/healthz'));
  t.is(ok.statusCode, 200);
  t.like(JSON.parse(ok.body ?? ''), { ok: true });
  t.true(existsSync(storeFile), 'the store is where OPTARC_GATEWAY_STORE says');
  for (const routeKey of ['GET /nope', 'POST /healthz', '$default', 'constructor', 'GET /healthz/']) {
    const r = await lambda.http(httpEvent(routeKey, '/nope'));
    t.is(r.statusCode, 404, routeKey);
  }
});

test('lambda.message refuses a connection $connect never recorded (403); $connect without a token is 401', async (t) => {
  const r = await lambda.message(wsEvent('$default', 'never-connected', { body: '{}' }));
  t.is(r.statusCode, 403);
  const c = await lambda.connect(wsEvent('$connect', 'no-token', { headers: {} }));
  t.is(c.statusCode, 401);
});

test('an agent connects, says hello and gets its session through the management API; a gone connection is 410', async (t) => {
  const store = new GatewayStore(storeFile);
  t.teardown(() => store.close());
  const { agent, token } = new AgentTokens(store).issue('lab-1');
  const connectionId = 'Abc123=';

  const c = await lambda.connect(wsEvent('$connect', connectionId, { headers: { Authorization: `Bearer ${token}` } }));
  t.is(c.statusCode, 200);
  const hello = { v: PROTOCOL_VERSION, type: 'hello', id: 'h-1', agentId: agent.id, agentVersion: '0.1.0' };
  const before = posted.length;
  const m = await lambda.message(
    wsEvent('$default', connectionId, { body: JSON.stringify({ ...hello, drives: [], pendingVolumes: [] }) }),
  );
  t.is(m.statusCode, 200);
  const post = posted[before]!;
  t.is(post.method, 'POST');
  t.is(post.url, `/prod/@connections/${encodeURIComponent(connectionId)}`);
  const reply = decodeGatewayMessage(post.body);
  t.true(reply.ok);
  if (reply.ok) t.like(reply.message, { type: 'session', replyTo: 'h-1', site: 'lab-1' });

  goneIds.add(connectionId);
  const gone = await lambda.message(
    wsEvent('$default', connectionId, {
      body: JSON.stringify({ ...hello, id: 'h-2', drives: [], pendingVolumes: [] }),
    }),
  );
  t.is(gone.statusCode, 410);
  await t.throwsAsync(
    lambda.lambdaDeps({ store }).postToConnection(connectionId, {
      v: PROTOCOL_VERSION,
      type: 'error',
      code: 'X',
      message: 'x',
      replyTo: null,
    }),
    { instanceOf: GoneError },
  );

  const d = await lambda.disconnect(wsEvent('$disconnect', connectionId));
  t.is(d.statusCode, 200);
  t.is((await lambda.message(wsEvent('$default', connectionId, { body: '{}' }))).statusCode, 403);
});

test('lambda.sweep runs the sweeper on the configured bucket: a young upload is kept, not aborted', async (t) => {
  if (!rgwEndpoint) {
    t.log(`SKIPPED: ${rgwMissing()}`);
    return;
  }
  const s3 = new S3Client(s3ClientConfig(rgwEndpoint));
  t.teardown(() => s3.destroy());
  const created = await s3.send(
    new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'sites/lab-1/volumes/V1/V1.iso' }),
  );
  const r = await lambda.sweep();
  t.deepEqual(r, { aborted: 0, kept: 1 });
  const left = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  t.deepEqual(
    (left.Uploads ?? []).map((u) => u.UploadId),
    [created.UploadId],
  );
});

test('without a management endpoint, posting fails clearly', async (t) => {
  const store = new GatewayStore(storeFile);
  t.teardown(() => store.close());
  const deps = lambda.lambdaDeps({ store }, {});
  await t.throwsAsync(
    deps.postToConnection('x', { v: PROTOCOL_VERSION, type: 'error', code: 'X', message: 'x', replyTo: null }),
    { message: /OPTARC_GATEWAY_MANAGEMENT_ENDPOINT is not set/ },
  );
});
