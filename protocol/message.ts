/**
 * One message contract, defined once: a TypeBox schema gives the runtime
 * check, the TypeScript type (Static<>), the JSON Schema for the reference
 * document, and the codec. Decoding never trusts its input: bytes that fail
 * to parse or to match the schema raise a ProtocolError naming the field.
 */
import { type TSchema, type Static } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Packr } from 'msgpackr';
import { ProtocolError } from './errors.js';
import './formats.js';

export type Encoding = 'json' | 'msgpack';

export interface MessageSpec<S extends TSchema> {
  /** Stable message name, e.g. `work.task`. */
  name: string;
  version: number;
  description: string;
  encoding: Encoding;
  schema: S;
  /** Subjects this message travels on, in words (for the reference document). */
  subjects: string;
  /** What makes two copies of this message "the same" for idempotency. */
  idempotencyKey?: string;
}

export interface MessageType<S extends TSchema> extends MessageSpec<S> {
  check(value: unknown): value is Static<S>;
  /** Throws ProtocolError(SW_ERR_SCHEMA) naming the first bad field. */
  assert(value: unknown): Static<S>;
  encode(value: Static<S>): Uint8Array;
  /** Throws ProtocolError(SW_ERR_DECODE | SW_ERR_SCHEMA). */
  decode(bytes: Uint8Array): Static<S>;
}

// Records off: plain maps keep the bytes readable by any MessagePack decoder.
const packr = new Packr({ useRecords: false, moreTypes: false });
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export const registry = new Map<string, MessageType<TSchema>>();

export function defineMessage<S extends TSchema>(spec: MessageSpec<S>): MessageType<S> {
  const compiled: TypeCheck<S> = TypeCompiler.Compile(spec.schema);
  const assert = (value: unknown): Static<S> => {
    if (compiled.Check(value)) return value;
    const first = compiled.Errors(value).First();
    const path = first?.path || '/';
    throw new ProtocolError('SW_ERR_SCHEMA', `${spec.name} v${spec.version}: ${path}: ${first?.message ?? 'invalid'}`, path);
  };
  const type: MessageType<S> = {
    ...spec,
    check: (value: unknown): value is Static<S> => compiled.Check(value),
    assert,
    encode(value) {
      // Encoding an invalid value is a programming error on our side; check
      // anyway so a bad producer is caught before it reaches other nodes.
      assert(value);
      return spec.encoding === 'json' ? textEncoder.encode(JSON.stringify(value)) : packr.pack(value);
    },
    decode(bytes) {
      let value: unknown;
      try {
        value = spec.encoding === 'json' ? JSON.parse(textDecoder.decode(bytes)) : packr.unpack(bytes);
      } catch (err) {
        throw new ProtocolError('SW_ERR_DECODE', `${spec.name} v${spec.version}: not valid ${spec.encoding}: ${(err as Error).message}`, undefined, { cause: err });
      }
      return assert(value);
    },
  };
  const key = `${spec.name}@${spec.version}`;
  if (registry.has(key)) throw new Error(`message ${key} defined twice`);
  registry.set(key, type as unknown as MessageType<TSchema>);
  return type;
}
