/**
 * The lines a person reads when the gateway starts listening on a terminal:
 * where the dashboard and the API are, and where the write key is. Only on a
 * terminal (log format auto or pretty); piped output stays JSON lines.
 */
import type { ApiKeyAuth } from './auth.js';
import { elementAgeLine, type CatalogAgeView } from './catalog-age.js';

export interface BannerInput {
  host: string;
  port: number;
  /** embedded: `starweather start`, everything in one process; cluster: a node on NATS. */
  mode: 'embedded' | 'cluster';
  nodeId: string;
  apiKey: ApiKeyAuth;
  /** The catalog as it stands at listen time (CatalogAge.view); absent: no catalog row. */
  catalog?: CatalogAgeView;
}

/** A wildcard listen address is reached on loopback from this machine. */
function reachableHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

/** Where the catalog came from and how old its ELEMENTS are (not when it was loaded). */
function catalogLine(c: CatalogAgeView): string {
  if (!c.elements && !c.lastLoad) return 'not loaded yet: the ingest loads it (CelesTrak, else the shipped snapshot); /ingest/status shows its age';
  const from = c.lastLoad ? `${c.lastLoad.source}${c.lastLoad.snapshotDate ? ` (snapshot of ${c.lastLoad.snapshotDate})` : ''}; ` : '';
  return `${from}${elementAgeLine(c.elements)}`;
}

function keyLine(k: ApiKeyAuth): string {
  switch (k.mode) {
    case 'generated':
      return `generated for this data directory, printed once above; stored in ${k.file}`;
    case 'stored':
      return `stored in ${k.file} (Authorization: Bearer <key>)`;
    case 'configured':
      return 'from STARWEATHER_API_KEY (Authorization: Bearer <key>)';
    case 'disabled':
      return `none: write endpoints answer 503 (${k.reason})`;
  }
}

export function startBanner(b: BannerInput): string {
  const base = `http://${reachableHost(b.host)}:${b.port}`;
  const rows: Array<[string, string]> = [
    ['Dashboard', `${base}/`],
    ['API', `${base}/api (OpenAPI), STAC at ${base}/collections`],
    ['Health', `${base}/health`],
    ['Write key', keyLine(b.apiKey)],
    ...(b.catalog ? [['Catalog', catalogLine(b.catalog)] as [string, string]] : []),
    ['Logs', 'readable text on this terminal; STARWEATHER_LOG_FORMAT=json for JSON lines'],
    ['Stop', 'Ctrl-C (drains, then exits)'],
  ];
  const title = b.mode === 'embedded' ? 'StarWeather is running (embedded: one process, nothing else needed)' : `StarWeather node ${b.nodeId} is serving`;
  return ['', `  ${title}`, ...rows.map(([k, v]) => `    ${k.padEnd(10)} ${v}`), ''].join('\n') + '\n';
}
