/**
 * Every gateway error as RFC 9457 problem details
 * (application/problem+json): type, title, status, detail and a stable
 * SW_ERR_ code. Schema validation failures are 400s that name the
 * parameter; a 5xx never leaks internals.
 */
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';

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
  ) {
    super(detail);
    this.name = 'HttpProblem';
  }
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
    if (err instanceof HttpProblem) return sendProblem(reply, problem(err.status, err.code, err.message));
    if (err.validation) {
      const errors = validationErrors(err);
      const first = errors?.[0];
      const detail = first ? `${first.in} parameter ${first.name}: ${first.message}` : err.message;
      return sendProblem(reply, { ...problem(400, 'SW_ERR_INVALID_ARGUMENT', detail), ...(errors ? { errors } : {}) });
    }
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) {
      log.error({ err, url: req.url.slice(0, 200) }, 'request failed');
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
