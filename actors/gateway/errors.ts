/**
 * Every gateway error as RFC 9457 problem details
 * (application/problem+json): type, title, status, detail and a stable
 * SW_ERR_ code. Schema validation failures are 400s that name the
 * parameter; a 5xx never leaks internals.
 *
 * A dependency that is down is a 503 with Retry-After, never a 500 (issue
 * 11): database connection-class errors (storage/db-errors.ts: refused,
 * terminated, pool timeout, PGlite closed, server shutting down) and bus
 * errors (SW_ERR_TRANSPORT, SW_ERR_TIMEOUT) are answered 503
 * SW_ERR_UNAVAILABLE with `Retry-After: DEPENDENCY_RETRY_AFTER_S`, and so
 * is every other SW_ERR_UNAVAILABLE.
 *
 * The refusals that happen before a route exists are problem details too
 * (problemServerOptions): the HTTP parser's (malformed request 400, headers
 * or request line over the limit 431, request timeout 408) and the router's
 * (undecodable URL 400, path parameter too long 414). None of them repeats
 * the URL or a header back: those are what the client got wrong, and an
 * echo of attacker-chosen bytes is a reflection vector for whatever renders
 * the answer. A JSON body with a prototype key is refused by name
 * (refusePrototypeKeys), not as "not valid JSON".
 */
import { STATUS_CODES, maxHeaderSize } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import { dbErrorKind } from '../storage/db-errors.js';

/** Retry-After (seconds) on a 503 for a dependency that is down (database, bus). */
export const DEPENDENCY_RETRY_AFTER_S = 5;

/**
 * Budgets under the gateway's 10 s socket timeout (app.ts HTTP_LIMITS): a
 * request not answered within `requestMs` is answered 503; a task enqueue
 * waits `enqueueMs` for the queue (the transport itself retries for 30 s).
 */
export const WORK_BUDGETS = { requestMs: 8_000, enqueueMs: 6_000 } as const;

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code: string;
  /** For validation failures: where (querystring, params, body) and which parameter. */
  errors?: Array<{ in: string; name: string; message: string }>;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Appended to a 413 for a body over this route's bodyLimit: what the limits are and how to stay within them. */
    bodyLimitHint?: string;
  }
}

/** A handled error with a status and a stable code, thrown from routes. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    /** Retry-After seconds (a 503 without one gets DEPENDENCY_RETRY_AFTER_S). */
    readonly retryAfterS?: number,
  ) {
    super(detail);
    this.name = 'HttpProblem';
  }
}

/** What a dependency failure is, for a 503 (null: not a dependency failure). */
export function unavailableDependency(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'SW_ERR_TRANSPORT' || code === 'SW_ERR_TIMEOUT') return 'the message bus is unavailable';
  const kind = dbErrorKind(err);
  if (kind !== 'query') return `the database is unavailable (${kind.replace('_', ' ')})`;
  return null;
}

export const badRequest = (detail: string, code = 'SW_ERR_INVALID_ARGUMENT'): HttpProblem => new HttpProblem(400, code, detail);
export const notFound = (detail: string): HttpProblem => new HttpProblem(404, 'SW_ERR_NOT_FOUND', detail);

export function problem(status: number, code: string, detail?: string): Problem {
  return { type: 'about:blank', title: TITLES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error'), status, code, ...(detail !== undefined ? { detail } : {}) };
}

export function sendProblem(reply: FastifyReply, p: Problem): FastifyReply {
  return reply.code(p.status).type('application/problem+json').header('cache-control', 'no-store').send(p);
}

/**
 * Longest path parameter the router matches (fastify's maxParamLength,
 * default 100); a longer one is a 414 before any route runs. Above the
 * 200-character id schemas (stac/read.ts IdParam, tasks.ts) so that those
 * schemas, not the router, refuse an over-long id and name the parameter.
 */
export const MAX_PARAM_LENGTH = 256;

/** A refusal of fastify's router (its frameworkErrors), which reaches neither a route nor the error handler. */
export function routerProblem(err: { code?: string }): Problem {
  switch (err.code) {
    case 'FST_ERR_BAD_URL':
      return problem(400, 'SW_ERR_BAD_URL', 'the request path is not a valid URL: a percent-encoded sequence does not decode to UTF-8');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return problem(414, 'SW_ERR_URI_TOO_LONG', `a path segment is longer than ${MAX_PARAM_LENGTH} characters`);
    default:
      return problem(500, 'SW_ERR_HANDLER', 'the server failed to route the request');
  }
}

/** A request Node's HTTP parser refused (the server's 'clientError'), by the parser's error code. */
export function parserProblem(err: { code?: string }): Problem {
  const code = err.code ?? '';
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return problem(408, 'SW_ERR_REQUEST_TIMEOUT', 'the request was not received completely in time');
  // Node counts the request line toward the same limit and reports both as this one overflow, so a very long URL lands here too, not at a 414.
  if (code === 'HPE_HEADER_OVERFLOW') return problem(431, 'SW_ERR_HEADERS_TOO_LARGE', `the request line and headers together exceed ${maxHeaderSize} bytes`);
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return problem(413, 'SW_ERR_TOO_LARGE', 'the chunk extensions of the request body exceed the limit');
  // The parser's codes are fixed names (HPE_INVALID_METHOD, ...): naming the rule repeats nothing the client sent.
  return problem(400, 'SW_ERR_BAD_REQUEST', `the request is not valid HTTP/1.1${/^HPE_[A-Z_]+$/.test(code) ? ` (${code})` : ''}`);
}

/**
 * The server's 'clientError' listener: no request or reply exists yet, so
 * the problem is written to the socket as fastify's default handler writes
 * its plain JSON, and the connection is closed (the parser cannot resume).
 */
export function writeParserProblem(err: Error & { code?: string }, socket: Socket): void {
  // A reset connection has nobody to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // As Node's own handler: never write into a response already on its way (a pipelined request that failed to parse behind it).
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const p = parserProblem(err);
    const body = JSON.stringify(p);
    socket.write(
      `HTTP/1.1 ${p.status} ${STATUS_CODES[p.status] ?? p.title}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/**
 * Options for Fastify(...) that answer the framework's own refusals (router
 * and HTTP parser) with problem details instead of its plain JSON, which
 * repeats the URL back.
 */
export function problemServerOptions(log: Logger): Pick<FastifyServerOptions, 'frameworkErrors' | 'clientErrorHandler' | 'routerOptions' | 'onProtoPoisoning' | 'onConstructorPoisoning'> {
  return {
    frameworkErrors: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      const p = routerProblem(err);
      if (p.status >= 500) log.error({ err: err.message?.slice(0, 300), method: req.method }, 'routing failed');
      void sendProblem(reply, p);
    },
    clientErrorHandler: writeParserProblem,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // fastify's default, stated because refusePrototypeKeys relies on it: see there why 'error'.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
  };
}

/**
 * JSON bodies (application/json and application/geo+json) are parsed
 * (secure-json-parse, through fastify) refusing a
 * `__proto__` key, or a `constructor` key holding `prototype`, anywhere in
 * the document: 'error', not 'remove', because then the body acted on would
 * silently differ from the one sent; not 'ignore', because such a key stays
 * an own property and pollutes Object.prototype as soon as code copies the
 * body with an assignment loop or a deep merge. fastify's default parser
 * answers this refusal and a syntax error alike ("Body is not valid JSON");
 * this one names the rule. To tell them apart, a refused body is parsed
 * again with plain JSON.parse (its result dropped; JSON.parse defines
 * `__proto__` as an own key, it does not set a prototype): only bodies
 * already refused pay for that second parse.
 */
export function refusePrototypeKeys(app: FastifyInstance): void {
  const strict = app.getDefaultJsonParser('error', 'error');
  // GeoJSON's own media type (RFC 7946 §12) is JSON: STAC clients send items and searches as application/geo+json.
  app.addContentTypeParser(['application/json', 'application/geo+json'], { parseAs: 'string' }, (req, body, done) => {
    strict(req, body as string, (err, value) => {
      if (!err) return done(null, value);
      try {
        JSON.parse(body as string);
      } catch {
        return done(err, undefined);
      }
      done(new HttpProblem(400, 'SW_ERR_FORBIDDEN_KEY', 'JSON bodies may not contain a "__proto__" key or a "constructor" key holding "prototype" (prototype pollution guard)'), undefined);
    });
  });
}

interface ValidationItem {
  instancePath?: string;
  params?: { missingProperty?: string; additionalProperty?: string };
  message?: string;
}

/** Name the parameter a schema validation failure is about. */
function validationErrors(err: FastifyError): Problem['errors'] {
  const where = err.validationContext ?? 'request';
  return (err.validation as ValidationItem[] | undefined)?.map((v) => {
    const name = v.params?.missingProperty ?? v.params?.additionalProperty ?? (v.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
    return { in: where, name: name || where, message: v.message ?? 'invalid' };
  });
}

/** Not-found and error handlers for the whole app (set on the root instance). */
export function useProblemDetails(app: FastifyInstance, log: Logger): void {
  // Here, so every app that answers with problem details also names this refusal.
  refusePrototypeKeys(app);
  app.setNotFoundHandler((req, reply) => {
    sendProblem(reply, problem(404, 'SW_ERR_NOT_FOUND', `no route for ${req.method} ${req.url.slice(0, 200)}`));
  });
  app.setErrorHandler((err: FastifyError | HttpProblem, req, reply) => {
    if (err instanceof HttpProblem) {
      // A configuration refusal (SW_ERR_WRITES_DISABLED) is not worth retrying; an unavailable dependency is.
      if (err.status === 503 && (err.retryAfterS !== undefined || err.code === 'SW_ERR_UNAVAILABLE') && !reply.hasHeader('retry-after')) {
        reply.header('retry-after', String(err.retryAfterS ?? DEPENDENCY_RETRY_AFTER_S));
      }
      return sendProblem(reply, problem(err.status, err.code, err.message));
    }
    // Only what would otherwise be a 5xx: a client error (an aborted body, a 413) stays what it is.
    const clientError = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500;
    const down = err.validation || clientError ? null : unavailableDependency(err);
    if (down !== null) {
      log.warn({ err: err.message?.slice(0, 300), url: req.url.slice(0, 200) }, 'dependency unavailable');
      reply.header('retry-after', String(DEPENDENCY_RETRY_AFTER_S));
      return sendProblem(reply, problem(503, 'SW_ERR_UNAVAILABLE', `${down}; retry after ${DEPENDENCY_RETRY_AFTER_S} s`));
    }
    if (err.validation) {
      const errors = validationErrors(err);
      const first = errors?.[0];
      const detail = first ? `${first.in} parameter ${first.name}: ${first.message}` : err.message;
      return sendProblem(reply, { ...problem(400, 'SW_ERR_INVALID_ARGUMENT', detail), ...(errors ? { errors } : {}) });
    }
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) {
      log.error({ err, url: req.url.slice(0, 200) }, 'request failed');
      if (status === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', String(DEPENDENCY_RETRY_AFTER_S));
      return sendProblem(reply, problem(status, status === 503 ? 'SW_ERR_UNAVAILABLE' : 'SW_ERR_HANDLER', status === 503 ? err.message : 'the server failed to handle the request'));
    }
    const code = status === 429 ? 'SW_ERR_RATE_LIMITED' : status === 413 ? 'SW_ERR_TOO_LARGE' : err.code?.startsWith('SW_ERR_') ? err.code : 'SW_ERR_INVALID_ARGUMENT';
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const hint = req.routeOptions.config?.bodyLimitHint;
      return sendProblem(reply, problem(413, code, `the request body is larger than this route accepts (${req.routeOptions.bodyLimit} bytes)${hint ? `: ${hint}` : ''}`));
    }
    return sendProblem(reply, problem(status, code, err.message));
  });
}
