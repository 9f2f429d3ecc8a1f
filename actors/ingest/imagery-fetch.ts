/**
 * The imagery ingest reads S3 through the gateway's SSRF guard (safeFetch):
 * names resolved and every address checked, the checked address pinned, no
 * redirects, a timeout and a byte cap. Its policy is the asset policy
 * (STARWEATHER_ASSET_*) plus the configured S3 endpoint, bucket by bucket,
 * so an operator's endpoint works without widening what POSTed items may
 * name. A private endpoint (a local S3-compatible server) must still be
 * listed in STARWEATHER_ASSET_PRIVATE_HOSTS; literal IPs stay refused.
 */
import type { Config } from '../../config/load.js';
import { assetPolicyFromConfig, safeFetch, type AssetPolicy } from '../gateway/ssrf.js';
import { SOURCES } from './imagery-keys.js';
import { S3Error, type HttpGet } from './imagery-s3.js';

export function imageryFetchPolicy(cfg: Config): AssetPolicy {
  const base = assetPolicyFromConfig(cfg);
  const hosts = [...base.hosts];
  const schemes = new Set(base.schemes);
  const buckets = cfg.imagery.sources.map((s) => SOURCES[s].bucket);
  const virtual = cfg.imagery.s3Endpoint.includes('{bucket}');
  for (const bucket of buckets) {
    let u: URL;
    try {
      u = new URL(cfg.imagery.s3Endpoint.replace('{bucket}', bucket));
    } catch {
      continue; // loadConfig validated the shape; a bucket that makes it unparsable simply is not allowed
    }
    schemes.add(u.protocol.replace(/:$/, ''));
    const hostPort = u.port ? `${u.hostname}:${u.port}` : u.hostname;
    hosts.push(virtual ? hostPort : `${hostPort}/${bucket}`);
  }
  return { ...base, hosts, schemes: [...schemes] };
}

export function safeGet(policy: AssetPolicy): HttpGet {
  return async (url, headers, limits) => {
    const r = await safeFetch(url, policy, { timeoutMs: limits.timeoutMs, maxBytes: limits.maxBytes, headers });
    if (!r.ok) throw new S3Error(`GET ${url.slice(0, 300)} ${r.kind === 'blocked' ? 'refused by the SSRF guard' : 'failed'} (${r.code}): ${r.reason}`, r.status ?? null);
    const h = new Headers();
    for (const [k, v] of Object.entries(r.headers)) {
      if (typeof v === 'string') h.set(k, v);
      else if (Array.isArray(v)) for (const x of v) h.append(k, x);
    }
    return { status: r.status, headers: h, body: new Uint8Array(r.body.buffer, r.body.byteOffset, r.body.byteLength) };
  };
}
