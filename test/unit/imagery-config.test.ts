/** Imagery ingest configuration: defaults, validation, and the fetch policy derived from it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../config/load.js';
import { imageryFetchPolicy } from '../../actors/ingest/imagery-fetch.js';
import { checkAssetHref } from '../../actors/gateway/ssrf.js';
import { objectUrl } from '../../actors/ingest/imagery-s3.js';
import { gatewayBase } from '../../actors/ingest/imagery-actor.js';

test('defaults: three sources, band 13, 10 min, AWS path style, gateway on the local port', () => {
  const cfg = loadConfig({ env: {} });
  assert.deepEqual(cfg.imagery.sources, ['goes-east', 'goes-west', 'himawari-9']);
  assert.deepEqual(cfg.imagery.bands, ['13']);
  assert.deepEqual(cfg.imagery.products, []);
  assert.equal(cfg.imagery.intervalMs, 600_000);
  assert.equal(cfg.imagery.s3Endpoint, 'https://s3.amazonaws.com');
  assert.equal(gatewayBase(cfg), `http://127.0.0.1:${cfg.http.port}`);
  assert.equal(objectUrl(cfg.imagery.s3Endpoint, 'noaa-goes19', 'ABI-L1b-RadF/2026/329/17/a b.nc'), 'https://s3.amazonaws.com/noaa-goes19/ABI-L1b-RadF/2026/329/17/a%20b.nc');
  assert.equal(objectUrl('https://{bucket}.s3.amazonaws.com', 'noaa-goes19', 'k/x.nc'), 'https://noaa-goes19.s3.amazonaws.com/k/x.nc');
});

test('environment overrides and refusals name the key', () => {
  const cfg = loadConfig({ env: { STARWEATHER_IMAGERY_SOURCES: 'himawari-9', STARWEATHER_IMAGERY_BANDS: '13,14', STARWEATHER_IMAGERY_PRODUCTS: 'AHI-L1b-FLDK', STARWEATHER_IMAGERY_INTERVAL_MS: '60000', STARWEATHER_S3_ENDPOINT: 'https://{bucket}.s3.amazonaws.com', STARWEATHER_GATEWAY_URL: 'http://gw:8080/' } });
  assert.deepEqual(cfg.imagery.sources, ['himawari-9']);
  assert.deepEqual(cfg.imagery.bands, ['13', '14']);
  assert.equal(gatewayBase(cfg), 'http://gw:8080');
  assert.throws(() => loadConfig({ env: { STARWEATHER_IMAGERY_SOURCES: 'goes-central' } }), /imagery\.sources/);
  assert.deepEqual(loadConfig({ env: { STARWEATHER_IMAGERY_SOURCES: 'none' } }).imagery.sources, [], 'S3 polling off');
  assert.throws(() => loadConfig({ env: { STARWEATHER_IMAGERY_SOURCES: 'none,goes-east' } }), /imagery\.sources/);
  assert.throws(() => loadConfig({ env: { STARWEATHER_IMAGERY_BANDS: '17' } }), /imagery\.bands/);
  assert.throws(() => loadConfig({ env: { STARWEATHER_IMAGERY_PRODUCTS: 'ABI-L2-CMIPF' } }), /imagery\.products/);
  assert.throws(() => loadConfig({ env: { STARWEATHER_S3_ENDPOINT: 'ftp://x' } }), /imagery\.s3Endpoint/);
  assert.throws(() => loadConfig({ env: { STARWEATHER_IMAGERY_INTERVAL_MS: '10' } }), /imagery\.intervalMs/);
});

test('fetch policy: the NOAA buckets by default; a configured endpoint is allowed per bucket, nothing wider', () => {
  const def = imageryFetchPolicy(loadConfig({ env: {} }));
  assert.ok(checkAssetHref('https://s3.amazonaws.com/noaa-goes19/ABI-L1b-RadF/x.nc', def).ok);
  assert.ok(checkAssetHref('https://s3.amazonaws.com/noaa-himawari9/AHI-L1b-FLDK/x.bz2', def).ok);
  assert.equal(checkAssetHref('https://s3.amazonaws.com/other-bucket/x', def).ok, false);
  const custom = imageryFetchPolicy(loadConfig({ env: { STARWEATHER_S3_ENDPOINT: 'https://mirror.example.org:9000', STARWEATHER_IMAGERY_SOURCES: 'goes-west' } }));
  assert.ok(checkAssetHref('https://mirror.example.org:9000/noaa-goes18/ABI-L1b-RadC/x.nc', custom).ok);
  assert.equal(checkAssetHref('https://mirror.example.org:9000/noaa-goes19/x.nc', custom).ok, false, 'only configured sources');
  assert.equal(checkAssetHref('https://mirror.example.org/noaa-goes18/x.nc', custom).ok, false, 'only the configured port');
  const vh = imageryFetchPolicy(loadConfig({ env: { STARWEATHER_S3_ENDPOINT: 'https://{bucket}.s3.us-east-1.amazonaws.com', STARWEATHER_IMAGERY_SOURCES: 'goes-east' } }));
  assert.ok(checkAssetHref('https://noaa-goes19.s3.us-east-1.amazonaws.com/ABI-L1b-RadF/x.nc', vh).ok);
});
