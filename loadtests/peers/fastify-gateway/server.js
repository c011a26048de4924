// A lean Node gateway doing the work of Gerbang's bearer pipeline, as a benchmark peer:
// bearer JWT verification (jose, ES256 allowlisted, iss/aud/exp checked) with a cache of
// verified tokens, an in-memory fixed-window limit per subject, and a pooled keep-alive
// proxy to the upstream (@fastify/http-proxy over undici).
//
// With ASSERTION=1 it also does what Gerbang does on every forwarded request: strip client-sent
// X-Gerbang-* headers and add an X-Gerbang-Assertion JWT (ES256, exp 60 s, a fresh jti).
//
// Settings come from the environment (the benchmark sets them):
//   PORT, UPSTREAM (http://127.0.0.1:N), PREFIX (/apps/api), ISSUER, AUDIENCE,
//   JWKS_FILE (a JWKS document) or JWKS_URL, LIMIT (requests per window), LIMIT_WINDOW_MS, ASSERTION.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';
import { SignJWT, createLocalJWKSet, createRemoteJWKSet, jwtVerify } from 'jose';

const env = process.env;
const PORT = Number(env.PORT ?? 8081);
const PREFIX = env.PREFIX ?? '/apps/api';
const LIMIT = Number(env.LIMIT ?? 1_000_000_000);
const LIMIT_WINDOW_MS = Number(env.LIMIT_WINDOW_MS ?? 60_000);
const CACHE_MAX = 10_000;
const ASSERTION = env.ASSERTION === '1';
const assertionKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

const keys = env.JWKS_URL
  ? createRemoteJWKSet(new URL(env.JWKS_URL))
  : createLocalJWKSet(JSON.parse(readFileSync(env.JWKS_FILE, 'utf8')));
const verifyOptions = { issuer: env.ISSUER, audience: env.AUDIENCE, algorithms: ['ES256'] };

// token -> { sub, exp (seconds) }; a verified token is trusted until its own exp.
const verified = new Map();
// subject -> { windowStart, count }
const windows = new Map();

function problem(reply, status, title, extraHeaders = {}) {
  reply.code(status).headers({ 'content-type': 'application/problem+json', ...extraHeaders });
  return reply.send(JSON.stringify({ type: 'about:blank', title, status }));
}

async function authenticate(token) {
  const now = Date.now() / 1000;
  const hit = verified.get(token);
  if (hit !== undefined && hit.exp > now) return hit;
  const { payload } = await jwtVerify(token, keys, verifyOptions);
  const entry = { sub: String(payload.client_id ?? payload.sub), exp: payload.exp ?? now + 60 };
  if (verified.size >= CACHE_MAX) verified.delete(verified.keys().next().value);
  verified.set(token, entry);
  return entry;
}

function isAllowed(subject) {
  const now = Date.now();
  let window = windows.get(subject);
  if (window === undefined || now - window.windowStart >= LIMIT_WINDOW_MS) {
    window = { windowStart: now, count: 0 };
    windows.set(subject, window);
  }
  window.count += 1;
  return window.count <= LIMIT;
}

async function gate(request, reply) {
  const header = request.headers.authorization ?? '';
  if (!header.startsWith('Bearer ')) {
    return problem(reply, 401, 'Unauthorized', { 'www-authenticate': 'Bearer' });
  }
  let principal;
  try {
    principal = await authenticate(header.slice(7));
  } catch {
    return problem(reply, 401, 'Unauthorized', { 'www-authenticate': 'Bearer error="invalid_token"' });
  }
  if (!isAllowed(principal.sub)) {
    return problem(reply, 429, 'Too Many Requests', { 'retry-after': '1' });
  }
  if (ASSERTION) {
    request.assertion = await new SignJWT({ opd: 'dishub', roles: [] })
      .setProtectedHeader({ alg: 'ES256', kid: 'hub', typ: 'JWT' })
      .setIssuer(env.ISSUER).setAudience(env.AUDIENCE).setSubject(principal.sub)
      .setIssuedAt().setExpirationTime('60s').setJti(randomUUID())
      .sign(assertionKey);
  }
  return undefined;
}

function forwardedHeaders(request, headers) {
  if (!ASSERTION) return headers;
  const kept = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!name.toLowerCase().startsWith('x-gerbang-')) kept[name] = value;
  }
  kept['x-gerbang-assertion'] = request.assertion;
  return kept;
}

const app = Fastify({ logger: false });
app.get('/healthz', async () => 'ok');
app.register(proxy, {
  upstream: env.UPSTREAM,
  prefix: PREFIX,
  rewritePrefix: '/',
  preHandler: gate,
  replyOptions: { rewriteRequestHeaders: forwardedHeaders },
});
app.listen({ host: '127.0.0.1', port: PORT }).catch((error) => {
  console.error(error);
  process.exit(1);
});
