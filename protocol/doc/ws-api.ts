/**
 * The "Websocket API" section of PROTOCOL.md: how a client opens and uses
 * the gateway's `/ws` (the OpenAPI document at /api describes the upgrade
 * itself as operation `openWebSocket` and links here). The messages are the
 * `ws.client` and `ws.server` schemas rendered under "Messages"; the numbers
 * come from the protocol's own constants.
 */
import { WS_MAX_GROUPS, WS_MAX_IDS } from '../messages/ws.js';

export function wsApiSection(): string {
  return [
    '## Websocket API (gateway `/ws`)',
    '',
    'Live states, alerts and cluster status from a gateway. The OpenAPI document (`GET /api`, operation `openWebSocket`) describes the HTTP side; this section and the `ws.client` / `ws.server` messages below describe what travels on the socket.',
    '',
    '### Opening',
    '',
    '`GET /ws` with `Upgrade: websocket` (RFC 6455) on the gateway\'s HTTP port; the answer is `101 Switching Protocols`. Checked before the upgrade, each refusal an HTTP answer with an `application/problem+json` body (RFC 9457, `code` SW_ERR_*):',
    '',
    '| status | when |',
    '| --- | --- |',
    '| 403 | `STARWEATHER_WS_ALLOWED_ORIGINS` is set and the `Origin` header is not in it |',
    '| 401 | `STARWEATHER_WS_TOKEN` is set and the request carries neither `?token=<token>` nor `Authorization: Bearer <token>` with it |',
    '| 503 | the gateway already serves `STARWEATHER_WS_MAX_CLIENTS` connections, or is overloaded (`Retry-After`) |',
    '| 429 | the client address already holds `STARWEATHER_WS_MAX_PER_IP` connections, or it passed the HTTP rate limit |',
    '',
    'A plain `GET /ws` without `Upgrade` is answered 404 without a body.',
    '',
    '### Conversation',
    '',
    'Control messages are JSON text frames; states are binary frames ("Websocket state frame" below).',
    '',
    '1. The gateway sends `welcome` with the connection\'s session id.',
    `2. The client sends \`subscribe\`: ids (at most ${WS_MAX_IDS}), groups (at most ${WS_MAX_GROUPS}), a bbox \`[w, s, e, n]\` or \`all\`, OR-ed, plus the \`alerts\` and \`cluster\` channels. A new \`subscribe\` replaces the subscription; \`unsubscribe\` clears it.`,
    '3. The gateway answers `subscribed`, then one binary frame with every latest known matching state (the snapshot), then one binary frame per tracker tick (1 Hz) with the matching states of that tick. A client too slow to read skips frames (latest wins) and is disconnected past `STARWEATHER_WS_MAX_SKIPPED_FRAMES` in a row or `STARWEATHER_WS_MAX_BUFFERED_BYTES` unsent.',
    '4. With `alerts: true`: the recent unacknowledged alerts, then each alert raised, as `alert` messages (never skipped). With `cluster: true`: a `cluster` message at once and every few seconds.',
    '5. Every `STARWEATHER_WS_HEARTBEAT_MS` a `heartbeat` message and a ping; a client that has not answered the previous ping with a pong by the next one is disconnected.',
    '6. An invalid client message, or one over `STARWEATHER_WS_MESSAGES_PER_SECOND` (burst twice that), is answered with `error` (echoing the request `id`) and the connection stays open; a client sending at 4× that rate is disconnected.',
    '',
    'Resume: each binary frame carries the sequence number of its flush. A client that reconnects sends `resume` with its earlier session id and the highest sequence it saw, and gets `resumed`, its subscription and channels back, one binary frame with the states changed since, and the alert replay. An unknown or expired session (sessions live in one gateway\'s memory for a while) is answered with `error` `SW_ERR_NOT_FOUND`: subscribe again.',
    '',
  ].join('\n');
}
