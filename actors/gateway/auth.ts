/**
 * API-key auth for write endpoints: `Authorization: Bearer <key>`.
 *
 * Answers follow RFC 6750 §3.1: no bearer credentials → 401 with a bare
 * `WWW-Authenticate: Bearer realm=…`; a wrong key → 401 with
 * `error="invalid_token"` (403 is for insufficient scope, which one key
 * without scopes cannot have). Keys are compared as SHA-256 digests with
 * timingSafeEqual, so neither the content nor the length leaks by timing.
 *
 * Where the key comes from (loadApiKey): STARWEATHER_API_KEY; else, in the
 * embedded default, a key generated at first start into <dataDir>/api-key
 * (0600) and printed once; else (cluster mode: NATS_URL or DATABASE_URL set,
 * where every gateway needs the same key) writes are refused with 503 —
 * never silently open.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import { writeSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler, preHandlerAsyncHookHandler } from 'fastify';
import type { Logger } from 'pino';
import { AuthFailureLimiter } from './auth-limit.js';
import { problem, sendProblem, type Problem } from './errors.js';

export const API_KEY_FILE = 'api-key';
const REALM = 'starweather';

export type ApiKeyAuth =
  | { mode: 'configured' | 'stored' | 'generated'; digest: Buffer; file?: string }
  | { mode: 'disabled'; reason: string };

const digestOf = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();

/** An auth state from a known key (tests, and the configured case). */
export function apiKeyAuth(key: string, mode: 'configured' | 'stored' | 'generated' = 'configured', file?: string): ApiKeyAuth {
  return { mode, digest: digestOf(key), ...(file ? { file } : {}) };
}

export const writesDisabled = (reason: string): ApiKeyAuth => ({ mode: 'disabled', reason });

export interface LoadApiKeyOptions {
  /** STARWEATHER_API_KEY ('' when unset). */
  configured: string;
  dataDir: string;
  /** Cluster mode (NATS_URL or DATABASE_URL set): never generate a per-node key. */
  cluster: boolean;
  log: Logger;
  /** Where the one-time notice of a generated key goes besides the log (default stdout). */
  print?(line: string): void;
}

/**
 * Resolve the write key at gateway start. Creating the file with O_EXCL
 * makes the first writer win when two processes start at once; the loser
 * reads the winner's key.
 */
export async function loadApiKey(o: LoadApiKeyOptions): Promise<ApiKeyAuth> {
  if (o.configured) return apiKeyAuth(o.configured, 'configured');
  if (o.cluster) {
    o.log.warn('STARWEATHER_API_KEY is not set in cluster mode: write endpoints answer 503');
    return writesDisabled('writes disabled: STARWEATHER_API_KEY not set');
  }
  const file = join(o.dataDir, API_KEY_FILE);
  // The data dir holds the key and the embedded database: created for this user only.
  await mkdir(o.dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(32).toString('base64url');
  try {
    const fh = await open(file, 'wx', 0o600);
    try {
      await fh.writeFile(`${key}\n`, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    const line = `StarWeather API key for write endpoints (shown once, stored in ${file}): ${key}`;
    // Straight to fd 1: from a host thread, process.stdout would pass through the main thread and land after the banner.
    (o.print ?? ((l: string) => writeSync(1, `${l}\n`)))(line);
    o.log.info({ file }, 'generated an API key for write endpoints (printed once on stdout)');
    return apiKeyAuth(key, 'generated', file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = await stat(file);
  if ((st.mode & 0o077) !== 0) {
    o.log.warn({ file, mode: (st.mode & 0o777).toString(8) }, 'API key file was readable by others; set to 0600');
    await chmod(file, 0o600);
  }
  const stored = (await readFile(file, 'utf8')).trim();
  if (stored.length < 16) {
    o.log.error({ file }, 'API key file is empty or too short: write endpoints answer 503 until it is fixed or removed');
    return writesDisabled(`writes disabled: ${file} holds no usable key`);
  }
  return apiKeyAuth(stored, 'stored', file);
}

function bearerOf(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return null;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(h);
  return m ? m[1]! : null;
}

/** Marks handlers made here, so the OpenAPI document can flag the routes that need the key. */
export const REQUIRES_API_KEY = Symbol.for('starweather.requiresApiKey');

/** Usable as a route's onRequest or preHandler hook. */
export type ApiKeyHook = preHandlerAsyncHookHandler & onRequestAsyncHookHandler;

/**
 * The key check for write routes. Attach it per route, best as onRequest
 * (`{ onRequest: app.requireApiKey }`, decorated in app.ts): that runs
 * before the body is read and parsed, so a client without the key cannot
 * make the gateway parse megabytes. As a preHandler it works too.
 *
 * Failed checks count per client (auth-limit.ts); past the limit a client
 * gets 429 with Retry-After even with the right key, until its window ends:
 * if the right key still passed, every guess would still be checked and the
 * limit would only change the answer to the wrong ones, not stop the
 * guessing. Other clients are not affected. Every refusal closes the connection: on
 * keep-alive node would otherwise read and discard the whole body the
 * client announced (100 MB measured) just to reuse the socket.
 */
export function requireApiKey(
  auth: ApiKeyAuth | (() => ApiKeyAuth),
  onReject?: (reason: string) => void,
  failures: AuthFailureLimiter = new AuthFailureLimiter(),
): ApiKeyHook {
  const refuse = (reply: FastifyReply, reason: string, p: Problem): FastifyReply => {
    onReject?.(reason);
    return sendProblem(reply.header('connection', 'close'), p);
  };
  const handler = async function (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const a = typeof auth === 'function' ? auth() : auth;
    if (a.mode === 'disabled') return refuse(reply, 'writes_disabled', problem(503, 'SW_ERR_WRITES_DISABLED', a.reason));
    const wait = failures.retryAfterS(req.ip);
    if (wait > 0) {
      reply.header('retry-after', String(wait));
      return refuse(reply, 'api_key_failures', problem(429, 'SW_ERR_RATE_LIMITED', `too many failed API key checks from this address; retry after ${wait} s`));
    }
    const given = bearerOf(req);
    if (given === null) {
      failures.fail(req.ip);
      reply.header('www-authenticate', `Bearer realm="${REALM}"`);
      return refuse(reply, 'api_key_missing', problem(401, 'SW_ERR_UNAUTHORIZED', 'this endpoint needs an API key: Authorization: Bearer <key>'));
    }
    if (!timingSafeEqual(digestOf(given), a.digest)) {
      failures.fail(req.ip);
      reply.header('www-authenticate', `Bearer realm="${REALM}", error="invalid_token", error_description="the API key is not valid"`);
      return refuse(reply, 'api_key_invalid', problem(401, 'SW_ERR_INVALID_TOKEN', 'the API key is not valid'));
    }
    return undefined;
  };
  (handler as unknown as Record<symbol, boolean>)[REQUIRES_API_KEY] = true;
  return handler as unknown as ApiKeyHook;
}

/**
 * Send `100 Continue` only once a request has passed its onRequest hooks
 * (the key check, rate limits, load shedding), not on arrival. Without a
 * 'checkContinue' listener node answers 100 Continue itself before fastify
 * sees the request, so a client without the key was invited to send its
 * body; now it gets the refusal instead and never sends it. Call it once,
 * on the root instance, so that the hook covers every route (preParsing runs
 * after onRequest and before the body is read).
 */
export function continueAfterOnRequest(app: FastifyInstance): void {
  app.server.on('checkContinue', (req, res) => app.server.emit('request', req, res));
  app.addHook('preParsing', async (req, reply, payload) => {
    if (/100-continue/i.test(req.headers.expect ?? '') && !reply.raw.headersSent) reply.raw.writeContinue();
    return payload;
  });
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest/preHandler hook for write routes (actors/gateway/auth.ts). */
    requireApiKey: ApiKeyHook;
  }
}
