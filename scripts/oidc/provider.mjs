// Local OpenID Connect provider for dl-auth tests and the local stack.
//
// A real `oidc-provider` instance: discovery at /.well-known/openid-configuration, JWKS at /jwks,
// `client_credentials` access tokens as ES256 `at+jwt` with `aud`, `sub`, `scope`, `client_id`
// (and a `roles` claim for clients that have roles).
//
// A second, admin listener (loopback only) lets tests drive the provider:
//   POST /admin/rotate            new ES256 signing key; the old ones stay published in the JWKS
//                                 (body {"retire_old": true} drops them). Answers {"kid": "..."}.
//   POST /admin/sign              signs a crafted token with the current signing key (or a throwaway
//                                 "rogue" key): body {"payload": {...}, "header": {...}, "key": "current"|"rogue"}.
//                                 Answers {"token": "..."}. Used for negative tests only.
//                                 "crit": {"name": true} lets the header carry that critical extension
//                                 (jose refuses to sign an unrecognised one otherwise).
//   GET  /admin/health            {"ok": true, "issuer", "kid", "jwks_requests": n} (n: GET /jwks answered
//                                 since start, so tests can bound how often verifiers fetch the keys)
//
// Usage: node provider.mjs [--port N] [--admin-port N] [--host 127.0.0.1] [--issuer URL] [--keep-running]
// Port 0 (the default) picks a free port. The provider exits when its stdin closes (so a crashed
// test leaves none behind) unless --keep-running is given (the local stack, scripts/oidc/local.sh). When both listeners are up the script prints one line
//   DL_OIDC_READY {"issuer": "...", "admin": "..."}
// on stdout. Extra signing keys to publish (e.g. a caller's request-signing key) can be passed as a
// JSON array of private JWKs in the environment variable DL_OIDC_EXTRA_JWKS; they are published in
// the JWKS but never used to sign access tokens (access tokens are always ES256 with the current key).

import * as http from 'node:http';
import * as crypto from 'node:crypto';

import Provider from 'oidc-provider';
import * as jose from 'jose';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const host = arg('host', '127.0.0.1');
const port = Number(arg('port', '0'));
const adminPort = Number(arg('admin-port', '0'));
const resource = process.env.DL_OIDC_RESOURCE || 'urn:dl:decision-layer';

// Clients: client_id -> { secret, roles }. Development secrets, loopback only. `dlctl-test` is
// the development caller the example functions allow (`allowed_callers: [sub:dlctl-test]`).
const CLIENTS = {
  'dl-test-client': { secret: 'dl-test-secret', roles: ['submitter'] },
  'dl-auditor-client': { secret: 'dl-auditor-secret', roles: ['auditor', 'reader'] },
  'dlctl-test': { secret: 'dlctl-test-secret', roles: [] },
};

let extraKeys = [];
if (process.env.DL_OIDC_EXTRA_JWKS) {
  extraKeys = JSON.parse(process.env.DL_OIDC_EXTRA_JWKS);
}

async function newSigningKey() {
  const { privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  jwk.kid = `es256-${crypto.randomBytes(8).toString('hex')}`;
  jwk.alg = 'ES256';
  jwk.use = 'sig';
  return jwk;
}

// Newest first; keys[0] signs.
let signingKeys = [await newSigningKey()];
let current;
let issuer;

function buildProvider() {
  const signKid = signingKeys[0].kid;
  const configuration = {
    clients: Object.entries(CLIENTS).map(([id, c]) => ({
      client_id: id,
      client_secret: c.secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    })),
    jwks: { keys: [...signingKeys, ...extraKeys] },
    scopes: ['decisions:submit', 'decisions:read', 'audit:read'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resourceIndicator) => ({
          scope: 'decisions:submit decisions:read audit:read',
          audience: resourceIndicator,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256', kid: signKid } },
        }),
      },
    },
    extraTokenClaims: (ctx, token) => {
      const c = CLIENTS[token.clientId];
      return c && c.roles.length ? { roles: c.roles } : undefined;
    },
  };
  const provider = new Provider(issuer, configuration);
  provider.proxy = false;
  return provider;
}

function readBody(req, limit = 64 * 1024) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function admin(req, res) {
  const url = new URL(req.url, 'http://admin');
  if (req.method === 'GET' && url.pathname === '/admin/health') {
    send(res, 200, { ok: true, issuer, kid: signingKeys[0].kid, jwks_requests: jwksRequests });
    return;
  }
  if (req.method === 'POST' && url.pathname === '/admin/rotate') {
    const text = await readBody(req);
    const body = text ? JSON.parse(text) : {};
    const key = await newSigningKey();
    signingKeys = body.retire_old ? [key] : [key, ...signingKeys].slice(0, 4);
    current = buildProvider();
    send(res, 200, { kid: key.kid, published: signingKeys.map((k) => k.kid) });
    return;
  }
  if (req.method === 'POST' && url.pathname === '/admin/sign') {
    const body = JSON.parse(await readBody(req));
    let jwk = signingKeys[0];
    if (body.key === 'rogue') {
      jwk = await newSigningKey();
    }
    const key = await jose.importJWK(jwk, 'ES256');
    const header = { alg: 'ES256', typ: 'at+jwt', kid: jwk.kid, ...(body.header || {}) };
    for (const [k, v] of Object.entries(header)) {
      if (v === null) delete header[k];
    }
    const token = await new jose.CompactSign(new TextEncoder().encode(JSON.stringify(body.payload)))
      .setProtectedHeader(header)
      .sign(key, body.crit ? { crit: body.crit } : undefined);
    send(res, 200, { token });
    return;
  }
  send(res, 404, { error: 'not found' });
}

// Requests for the JWKS (oidc-provider's `jwks` route), for /admin/health.
let jwksRequests = 0;
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && new URL(req.url, 'http://p').pathname === '/jwks') {
    jwksRequests += 1;
  }
  current.callback()(req, res);
});
const adminServer = http.createServer((req, res) => {
  admin(req, res).catch((err) => send(res, 500, { error: String(err && err.message) }));
});

function listen(srv, p, h) {
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(p, h, () => resolve(srv.address().port));
  });
}

const actualPort = await listen(server, port, host);
// --issuer: the URL callers and verifiers know this provider by, when it differs from the
// listening address (in docker-compose: http://oidc:9000 while listening on 0.0.0.0).
issuer = arg('issuer', `http://${host}:${actualPort}`);
current = buildProvider();
// The admin listener (key rotation, tokens with chosen claims) never leaves loopback.
const actualAdmin = await listen(adminServer, adminPort, '127.0.0.1');

process.stdout.write(`DL_OIDC_READY ${JSON.stringify({ issuer, admin: `http://127.0.0.1:${actualAdmin}` })}\n`);

function shutdown() {
  server.close();
  adminServer.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// Exit when the parent (the test) closes our stdin, so a crashed test leaves no provider behind.
if (!process.argv.includes('--keep-running')) {
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  process.stdin.resume();
}
