/**
 * The SSRF policy check (actors/gateway/ssrf.ts checkAssetHref) over a URL
 * matrix: every refusal names the right reason; the NOAA defaults and a
 * file under the root pass. Address classification (forbiddenAddress) over
 * private, loopback, link-local, ULA, CGNAT, mapped and reserved ranges.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../config/load.js';
import { assetPolicyFromConfig, checkAssetHref, DEFAULT_ASSET_HOSTS, forbiddenAddress, type AssetPolicy, type HrefRefusal } from '../../actors/gateway/ssrf.js';

const root = mkdtempSync(join(tmpdir(), 'sw-ssrf-root-'));
after(() => rmSync(root, { recursive: true, force: true }));

const policy: AssetPolicy = {
  schemes: ['https'],
  hosts: [...DEFAULT_ASSET_HOSTS, 'assets.example.org:8443', 'localhost'],
  fileRoot: root,
};

const G19 = 'https://noaa-goes19.s3.amazonaws.com/ABI-L1b-RadF/2026/329/18/OR_ABI-L1b-RadF-M6C13_G19_s20263291800205_e20263291809513_c20263291809567.nc';

const refused: Array<[string, HrefRefusal]> = [
  // Literal IPv4 in every spelling the WHATWG parser accepts: all become a dotted quad.
  ['https://127.0.0.1/x', 'literal_ip'],
  ['https://127.1/x', 'literal_ip'],
  ['https://2130706433/x', 'literal_ip'],
  ['https://0x7f000001/x', 'literal_ip'],
  ['https://0x7f.1/x', 'literal_ip'],
  ['https://0177.0.0.1/x', 'literal_ip'],
  ['https://017700000001/x', 'literal_ip'],
  ['https://%31%32%37.0.0.1/x', 'literal_ip'],
  ['https://１２７.０.０.１/x', 'literal_ip'],
  ['https://0/x', 'literal_ip'],
  ['https://0.0.0.0/x', 'literal_ip'],
  ['https://10.0.0.1/x', 'literal_ip'],
  ['https://172.16.5.4/x', 'literal_ip'],
  ['https://192.168.1.1/x', 'literal_ip'],
  ['https://100.64.0.1/x', 'literal_ip'],
  ['https://169.254.169.254/latest/meta-data/', 'literal_ip'],
  ['https://8.8.8.8/x', 'literal_ip'],
  // IPv6 literals, bracketed, mapped and compatible.
  ['https://[::1]/x', 'literal_ip'],
  ['https://[0:0:0:0:0:0:0:1]/x', 'literal_ip'],
  ['https://[::ffff:127.0.0.1]/x', 'literal_ip'],
  ['https://[::ffff:7f00:1]/x', 'literal_ip'],
  ['https://[::ffff:169.254.169.254]/x', 'literal_ip'],
  ['https://[fe80::1]/x', 'literal_ip'],
  ['https://[fd00:ec2::254]/x', 'literal_ip'],
  ['https://[fc00::1]/x', 'literal_ip'],
  ['https://[2606:4700::1111]/x', 'literal_ip'],
  // Other schemes.
  ['http://noaa-goes19.s3.amazonaws.com/x', 'scheme'],
  ['ftp://noaa-goes19.s3.amazonaws.com/x', 'scheme'],
  ['gopher://noaa-goes19.s3.amazonaws.com:70/_x', 'scheme'],
  ['data:text/plain,hello', 'scheme'],
  ['javascript:alert(1)', 'scheme'],
  ['dict://localhost:11211/stats', 'scheme'],
  ['ws://localhost/x', 'scheme'],
  ['jar:https://noaa-goes19.s3.amazonaws.com/x!/', 'scheme'],
  ['s3://noaa-goes19/x', 'scheme'],
  // Userinfo: both the credential leak and the `trusted@evil` confusion.
  ['https://user:pass@noaa-goes19.s3.amazonaws.com/x', 'userinfo'],
  ['https://noaa-goes19.s3.amazonaws.com@evil.example/x', 'userinfo'],
  ['https://user@noaa-goes19.s3.amazonaws.com/x', 'userinfo'],
  // Ports.
  ['https://noaa-goes19.s3.amazonaws.com:8443/x', 'port'],
  ['https://noaa-goes19.s3.amazonaws.com:80/x', 'port'],
  ['https://assets.example.org/x', 'port'],
  ['https://localhost:6379/', 'port'],
  // Unlisted hosts, look-alikes and path-style buckets outside the list.
  ['https://evil.example/x', 'host'],
  ['https://noaa-goes19.s3.amazonaws.com.evil.example/x', 'host'],
  ['https://evilnoaa-goes19.s3.amazonaws.com/x', 'host'],
  ['https://metadata.google.internal/computeMetadata/v1/', 'host'],
  ['https://127.0.0.1.nip.io/x', 'host'],
  ['https://s3.amazonaws.com/other-bucket/x', 'path'],
  ['https://s3.amazonaws.com/noaa-goes19-evil/x', 'path'],
  ['https://s3.amazonaws.com/noaa-goes19-evil?list-type=2', 'path'],
  ['https://s3.amazonaws.com/?list-type=2', 'path'],
  ['https://s3.amazonaws.com/noaa-goes19/../other-bucket/x', 'path'],
  ['https://s3.amazonaws.com/noaa-goes19/%2e%2e/other-bucket/x', 'path'],
  // Not absolute URLs.
  ['', 'invalid_url'],
  ['/etc/passwd', 'invalid_url'],
  ['../../etc/passwd', 'invalid_url'],
  ['noaa-goes19.s3.amazonaws.com/x', 'invalid_url'],
  ['https://', 'invalid_url'],
  // file: outside the root, through every traversal spelling, or with a host.
  ['file:///etc/passwd', 'file_outside_root'],
  [`${pathToFileURL(root).href}/../outside.nc`, 'file_outside_root'],
  [`${pathToFileURL(root).href}/%2e%2e/outside.nc`, 'file_outside_root'],
  [`${pathToFileURL(root).href}/a/%2E%2E/%2e%2e/outside.nc`, 'file_outside_root'],
  [`${pathToFileURL(root).href}-sibling/x.nc`, 'file_outside_root'],
  [`${pathToFileURL(root).href}/a%2F..%2F..%2Foutside.nc`, 'file_outside_root'],
  [pathToFileURL(root).href, 'file_outside_root'],
  ['file://evil.example/share/x.nc', 'file_host'],
  ['file://127.0.0.1/etc/passwd', 'file_host'],
];

describe('checkAssetHref', () => {
  for (const [href, code] of refused) {
    it(`refuses ${href || '(empty)'} (${code})`, () => {
      const r = checkAssetHref(href, policy);
      assert.equal(r.ok, false, `${href} was accepted`);
      if (r.ok) return;
      assert.equal(r.code, code, `${href}: ${r.reason}`);
      assert.ok(r.reason.length > 10, 'the reason says why');
    });
  }

  it('accepts the NOAA buckets, virtual-hosted and path-style, and a listed port', () => {
    for (const href of [
      G19,
      'https://noaa-goes18.s3.amazonaws.com/ABI-L1b-RadC/2026/329/18/x.nc',
      'https://NOAA-HIMAWARI9.s3.amazonaws.com/AHI-L1b-FLDK/2026/11/25/1800/HS_H09_20261125_1800_B13_FLDK_R20_S0110.DAT.bz2',
      'https://noaa-goes19.s3.amazonaws.com./x.nc',
      'https://s3.amazonaws.com/noaa-goes19/ABI-L1b-RadF/x.nc',
      'https://s3.amazonaws.com/noaa-goes19?list-type=2&prefix=ABI-L1b-RadF/2026/329/',
      'https://assets.example.org:8443/x',
      'https://localhost/x',
    ]) {
      const r = checkAssetHref(href, policy);
      assert.ok(r.ok, `${href}: ${r.ok ? '' : r.reason}`);
      assert.equal(r.ok && r.kind, 'http');
    }
  });

  it('accepts file: inside the root and refuses file: when no root is configured', () => {
    const inside = pathToFileURL(join(root, 'goes19', 'scene.nc')).href;
    const r = checkAssetHref(inside, policy);
    assert.ok(r.ok && r.kind === 'file' && r.path === join(root, 'goes19', 'scene.nc'), r.ok ? '' : r.reason);
    assert.ok(checkAssetHref(`${pathToFileURL(root).href}/a/../b.nc`, policy).ok, 'a .. that stays inside is fine');
    const none = checkAssetHref(inside, { ...policy, fileRoot: '' });
    assert.equal(none.ok, false);
    assert.equal(!none.ok && none.code, 'file_disabled');
  });

  it('http is refused unless configured, then allowed', () => {
    const href = 'http://noaa-goes19.s3.amazonaws.com/x';
    assert.equal(checkAssetHref(href, policy).ok, false);
    assert.equal(checkAssetHref(href, { ...policy, schemes: ['https', 'http'] }).ok, true);
  });

  it('the default config allows exactly the NOAA buckets over https and no file:', () => {
    const p = assetPolicyFromConfig(loadConfig({ env: {} }));
    assert.equal(p.allowLoopbackForTests, undefined, 'never set from config');
    assert.ok(checkAssetHref(G19, p).ok);
    assert.ok(checkAssetHref('https://s3.amazonaws.com/noaa-himawari9/AHI-L1b-FLDK/x', p).ok);
    for (const bad of ['https://evil.example/x', 'http://noaa-goes19.s3.amazonaws.com/x', 'file:///tmp/x.nc', 'https://169.254.169.254/']) assert.equal(checkAssetHref(bad, p).ok, false, bad);
  });

  it('config rejects malformed host entries and private hosts that are not on the allow list', () => {
    assert.throws(() => loadConfig({ env: { STARWEATHER_ASSET_HOSTS: 'https://x.example/a/b' } }), /assets\.hosts/);
    assert.throws(() => loadConfig({ env: { STARWEATHER_ASSET_SCHEMES: 'https,ftp' } }), /assets\.schemes/);
    assert.throws(() => loadConfig({ env: { STARWEATHER_ASSET_PRIVATE_HOSTS: 'localhost:9000' } }), /assets\.privateHosts/);
    const ok = loadConfig({ env: { STARWEATHER_ASSET_HOSTS: 'localhost:9000/bucket', STARWEATHER_ASSET_PRIVATE_HOSTS: 'localhost:9000' } });
    assert.deepEqual(ok.assets.privateHosts, ['localhost:9000']);
  });
});

describe('forbiddenAddress', () => {
  const cases: Array<[string, string | null]> = [
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['100.127.255.254', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['224.0.0.251', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['::ffff:127.0.0.1', 'ipv4Mapped'],
    ['::ffff:8.8.8.8', 'ipv4Mapped'],
    ['64:ff9b::a9fe:a9fe', 'rfc6052'],
    ['2002:7f00:1::1', '6to4'],
    ['ff02::1', 'multicast'],
    ['fec0::1', 'deprecatedSiteLocal'],
    ['8.8.8.8', null],
    ['52.216.0.1', null],
    ['2606:4700::1111', null],
    ['not-an-ip', 'not an IP address'],
  ];
  for (const [addr, want] of cases) {
    it(`${addr} → ${want ?? 'allowed'}`, () => assert.equal(forbiddenAddress(addr), want));
  }
  it('the test flag lets loopback through, nothing else', () => {
    assert.equal(forbiddenAddress('127.0.0.1', true), null);
    assert.equal(forbiddenAddress('::1', true), null);
    assert.equal(forbiddenAddress('10.0.0.1', true), 'private');
    assert.equal(forbiddenAddress('169.254.169.254', true), 'linkLocal');
    assert.equal(forbiddenAddress('::ffff:127.0.0.1', true), 'ipv4Mapped');
  });
  it('a configured private host may be loopback, RFC 1918, ULA or CGNAT, never link-local, mapped or multicast', () => {
    for (const a of ['127.0.0.1', '::1', '10.0.0.1', '192.168.1.1', 'fd00::1', '100.64.0.1']) assert.equal(forbiddenAddress(a, false, true), null, a);
    for (const [a, r] of [['169.254.169.254', 'linkLocal'], ['fe80::1', 'linkLocal'], ['::ffff:10.0.0.1', 'ipv4Mapped'], ['0.0.0.0', 'unspecified'], ['224.0.0.1', 'multicast']] as const) assert.equal(forbiddenAddress(a, false, true), r, a);
  });
});
