// A tiny schema language for Concord messages. Every message travels as a MessagePack array
// of its fields in declaration order (no keys on the wire), and the TypeScript types of the
// messages are inferred from the same schema, so the bytes and the types cannot drift apart.
import { ProtocolError } from './ProtocolError.js';

/** A string of at most `maxBytes` UTF-8 bytes (0 = the codec's `maxStringBytes`). */
export interface StrSchema {
  readonly kind: 'str';
  readonly maxChars?: number;
}
/** A non-negative safe integer, at most `max` when set. */
export interface UintSchema {
  readonly kind: 'uint';
  readonly max?: number;
}
/** A boolean. */
export interface BoolSchema {
  readonly kind: 'bool';
}
/** An array of one element schema, at most `maxItems` long when set. */
export interface ArraySchema<E extends Schema = Schema> {
  readonly kind: 'array';
  readonly of: E;
  readonly maxItems?: number;
}
/** A record encoded positionally: `fields` in order. */
export interface ObjectSchema<F extends readonly Field[] = readonly Field[]> {
  readonly kind: 'object';
  readonly fields: F;
}
/** One named field of an {@link ObjectSchema}. */
export type Field = readonly [name: string, schema: Schema];
/** Any schema node. */
export type Schema = StrSchema | UintSchema | BoolSchema | ArraySchema | ObjectSchema;

/** The TypeScript type a schema describes. */
export type Infer<S> = S extends StrSchema
  ? string
  : S extends UintSchema
    ? number
    : S extends BoolSchema
      ? boolean
      : S extends ArraySchema<infer E>
        ? Infer<E>[]
        : S extends ObjectSchema<infer F>
          ? { [K in F[number] as K[0]]: Infer<K[1]> }
          : never;

/** A string field. */
export const str = (maxChars?: number): StrSchema =>
  maxChars === undefined ? { kind: 'str' } : { kind: 'str', maxChars };
/** A non-negative integer field. */
export const uint: UintSchema = { kind: 'uint' };
/** A non-negative integer field of at most `max` (e.g. `0xffffffff` for a u32). */
export const uintMax = (max: number): UintSchema => ({ kind: 'uint', max });
/** A boolean field. */
export const bool: BoolSchema = { kind: 'bool' };
/** An array field. */
export const array = <E extends Schema>(of: E, maxItems?: number): ArraySchema<E> =>
  maxItems === undefined ? { kind: 'array', of } : { kind: 'array', of, maxItems };
/** A positional record. */
export const object = <const F extends readonly Field[]>(...fields: F): ObjectSchema<F> => ({
  kind: 'object',
  fields,
});

/** Converts a typed value to its positional wire form (nested arrays). */
export function toWire(schema: Schema, value: unknown): unknown {
  switch (schema.kind) {
    case 'object': {
      const v = value as Record<string, unknown>;
      const out = new Array<unknown>(schema.fields.length);
      for (let i = 0; i < schema.fields.length; i++) {
        const [name, fieldSchema] = schema.fields[i]!;
        out[i] = toWire(fieldSchema, v[name]);
      }
      return out;
    }
    case 'array':
      return (value as unknown[]).map((e) => toWire(schema.of, e));
    default:
      return value;
  }
}

/**
 * Validates a decoded positional value against `schema` and rebuilds the typed object.
 * A record must have exactly its schema's fields: unknown trailing fields are refused (new
 * fields come with a new protocol version, see `PROTOCOL_VERSION`).
 * @throws {ProtocolError} `INVALID_PAYLOAD` naming the path of the first mismatch.
 */
export function fromWire(schema: Schema, wire: unknown, path: string): unknown {
  switch (schema.kind) {
    case 'str':
      if (typeof wire !== 'string') throw mismatch(path, 'a string', wire);
      if (schema.maxChars !== undefined && wire.length > schema.maxChars) {
        throw ProtocolError.limitExceeded(`${path} length`, wire.length, schema.maxChars);
      }
      return wire;
    case 'uint':
      if (typeof wire !== 'number' || !Number.isSafeInteger(wire) || wire < 0) {
        throw mismatch(path, 'a non-negative integer', wire);
      }
      if (schema.max !== undefined && wire > schema.max)
        throw ProtocolError.invalidPayload(`${path} must be at most ${schema.max}, got ${wire}`);
      return wire;
    case 'bool':
      if (typeof wire !== 'boolean') throw mismatch(path, 'a boolean', wire);
      return wire;
    case 'array': {
      if (!Array.isArray(wire)) throw mismatch(path, 'an array', wire);
      if (schema.maxItems !== undefined && wire.length > schema.maxItems)
        throw ProtocolError.limitExceeded(`${path} length`, wire.length, schema.maxItems);
      const out = new Array<unknown>(wire.length);
      for (let i = 0; i < wire.length; i++) out[i] = fromWire(schema.of, wire[i], `${path}[${i}]`);
      return out;
    }
    case 'object':
      if (!Array.isArray(wire)) throw mismatch(path, 'a record', wire);
      return fromWireRecord(schema, wire, 0, path);
  }
}

/**
 * Decodes the fields of `schema` from `wire` starting at index `offset` (messages carry their
 * opcode first, then the payload's fields inline). The record must end with the last field:
 * trailing elements are refused, so a peer cannot pad a message with data nobody reads.
 * @throws {ProtocolError} `INVALID_PAYLOAD` naming the path of the first mismatch.
 */
export function fromWireRecord(
  schema: ObjectSchema,
  wire: readonly unknown[],
  offset: number,
  path: string,
): Record<string, unknown> {
  const fields = schema.fields;
  if (wire.length - offset !== fields.length) {
    throw ProtocolError.invalidPayload(
      `${path} has ${wire.length - offset} fields, expected ${fields.length}`,
    );
  }
  const out: Record<string, unknown> = {};
  for (let i = 0; i < fields.length; i++) {
    const [name, fieldSchema] = fields[i]!;
    out[name] = fromWire(fieldSchema, wire[offset + i], `${path}.${name}`);
  }
  return out;
}

function mismatch(path: string, expected: string, got: unknown): ProtocolError {
  const kind = got === null ? 'null' : Array.isArray(got) ? 'array' : typeof got;
  return ProtocolError.invalidPayload(`${path} must be ${expected}, got ${kind}`);
}
