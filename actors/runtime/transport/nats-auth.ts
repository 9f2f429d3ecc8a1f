/**
 * How this node proves itself to NATS and protects the connection, from
 * config (issue 16 part 5): user and password, a token, an NKey seed, or a
 * .creds file (user JWT + NKey seed, NATS's decentralized auth); TLS with a
 * CA to verify the servers and optionally a client certificate (mutual
 * TLS). config/load.ts allows one way to authenticate at a time.
 *
 * Seeds and creds are read here, once, at connect: the client signs the
 * server's nonce with them on every (re)connect, so they stay in memory and
 * never travel.
 */
import { readFileSync } from 'node:fs';
import { credsAuthenticator, nkeyAuthenticator, type ConnectionOptions } from '@nats-io/transport-node';
import type { Config } from '../../../config/load.js';
import { ConfigError } from '../../../protocol/errors.js';

export type NatsAuthOptions = Pick<ConnectionOptions, 'user' | 'pass' | 'token' | 'authenticator' | 'tls'>;

function readSecretFile(key: string, path: string): Uint8Array {
  try {
    return new TextEncoder().encode(readFileSync(path, 'utf8').trim());
  } catch (err) {
    throw new ConfigError(key, `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

export function natsAuthOptions(n: Config['nats']): NatsAuthOptions {
  const out: NatsAuthOptions = {};
  if (n.user) {
    out.user = n.user;
    out.pass = n.password;
  } else if (n.token) {
    out.token = n.token;
  } else if (n.nkeySeedFile) {
    out.authenticator = nkeyAuthenticator(readSecretFile('nats.nkeySeedFile (NATS_NKEY_SEED_FILE)', n.nkeySeedFile));
  } else if (n.credsFile) {
    out.authenticator = credsAuthenticator(readSecretFile('nats.credsFile (NATS_CREDS)', n.credsFile));
  }
  const tlsUrl = n.url.split(',').some((u) => u.trim().startsWith('tls://'));
  if (n.tlsCaFile || n.tlsCertFile || tlsUrl) {
    out.tls = {
      ...(n.tlsCaFile ? { caFile: n.tlsCaFile } : {}),
      ...(n.tlsCertFile ? { certFile: n.tlsCertFile, keyFile: n.tlsKeyFile } : {}),
    };
  }
  return out;
}
