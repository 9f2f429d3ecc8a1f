/**
 * Shared bits for the catalog ingest tests (not a test file): a local
 * stand-in for CelesTrak's gp.php on 127.0.0.1 that serves the repo's own
 * files and can answer 403/404/500, stall, or send garbage; it counts every
 * request so "no retry" is checked at the server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../config/load.js';
import { createLogger } from '../../actors/runtime/log.js';

export type GpAnswer =
  | { status: number; body?: string | Buffer; contentType?: string }
  /** Send headers, then nothing: the client's timeout must end it. */
  | { stall: true };

export interface GpRequest {
  group: string | null;
  format: string | null;
  userAgent: string | undefined;
}

export interface GpServer {
  url: string;
  requests: GpRequest[];
  /** Decide the answer per request; replace between steps of a test. */
  answer: (req: GpRequest) => GpAnswer;
  close(): Promise<void>;
}

export async function startGpServer(answer: (req: GpRequest) => GpAnswer): Promise<GpServer> {
  const open = new Set<ServerResponse>();
  const state: GpServer = {
    url: '',
    requests: [],
    answer,
    close: async () => {
      for (const r of open) r.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const r: GpRequest = { group: u.searchParams.get('GROUP'), format: u.searchParams.get('FORMAT'), userAgent: req.headers['user-agent'] };
    state.requests.push(r);
    const a = state.answer(r);
    if ('stall' in a) {
      open.add(res);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[');
      return;
    }
    res.writeHead(a.status, { 'content-type': a.contentType ?? 'text/plain' });
    res.end(a.body ?? '');
  });
  server.keepAliveTimeout = 1;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/NORAD/elements/gp.php`;
  return state;
}

export function tempDir(): { dir: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'sw-catalog-'));
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Config for a test: embedded unless told, fast cycles, the local server as CelesTrak. */
export function catalogConfig(over: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}): Config {
  return loadConfig({
    env,
    overrides: { 'catalog.minRefetchMs': 0, 'catalog.jitterMs': 0, 'catalog.timeoutMs': 5000, logLevel: 'silent', ...over },
  });
}

export const silentLogger = () => createLogger({ nodeId: 'catalog-test', level: 'silent' });

/** An OMM JSON record (CelesTrak keys) with the given id; valid unless fields are overridden. */
export function ommRecord(id: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    OBJECT_NAME: `TEST ${id}`,
    OBJECT_ID: '2026-100A',
    EPOCH: '2026-05-07T12:00:00.123456',
    MEAN_MOTION: 15.5,
    ECCENTRICITY: 0.0005,
    INCLINATION: 51.6,
    RA_OF_ASC_NODE: 120.5,
    ARG_OF_PERICENTER: 90.1,
    MEAN_ANOMALY: 270.2,
    EPHEMERIS_TYPE: 0,
    CLASSIFICATION_TYPE: 'U',
    NORAD_CAT_ID: id,
    ELEMENT_SET_NO: 999,
    REV_AT_EPOCH: 1234,
    BSTAR: 0.0001,
    MEAN_MOTION_DOT: 0.00001,
    MEAN_MOTION_DDOT: 0,
    ...over,
  };
}
