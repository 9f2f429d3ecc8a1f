/**
 * An answer sent before the request's body was read closes the connection
 * (security review item 4, for every early refusal): load shedding (503),
 * the rate limit (429), a missing or wrong key (401), a body over the limit
 * (413). On keep-alive, node would otherwise read and discard the whole
 * body the client announced just to reuse the socket: an unauthenticated
 * client could make an overloaded or rate-limited gateway read 100 MB per
 * request, which is exactly the work those refusals exist to avoid.
 *
 * `complete` is node's own flag: the whole message, body included, has
 * been received. A request without a body is complete once its headers
 * are in, so those keep their connection.
 */
import type { FastifyInstance } from 'fastify';

export function closeOnUnreadBody(app: FastifyInstance): void {
  app.addHook('onSend', (req, reply, payload, done) => {
    if (!req.raw.complete && !reply.hasHeader('connection')) reply.header('connection', 'close');
    done(null, payload);
  });
}
