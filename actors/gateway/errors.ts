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
 */
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
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
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
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
