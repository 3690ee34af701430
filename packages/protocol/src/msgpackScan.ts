// A structural pre-check of MessagePack bytes, run before msgpackr decodes them. It walks the
// encoding without building values and proves: one complete value spanning exactly the input,
// no extension types, strings/binaries within `maxStringBytes`, containers within
// `maxArrayLength` (and never claiming more elements than bytes remain), nesting within
// `maxDepth`. After it passes, msgpackr cannot be driven into a large allocation or a throw.
// Format reference: https://github.com/msgpack/msgpack/blob/master/spec.md
import type { ProtocolLimits } from './limits.js';
import { ProtocolError } from './ProtocolError.js';

type ScanLimits = Pick<ProtocolLimits, 'maxStringBytes' | 'maxArrayLength' | 'maxDepth'>;

/**
 * Validates that `bytes` hold exactly one MessagePack value within `limits`.
 * @throws {ProtocolError} `INVALID_PAYLOAD` for malformed bytes, `LIMIT_EXCEEDED` for limits.
 */
export function scanMsgpack(bytes: Uint8Array, limits: ScanLimits): void {
  const end = bytes.length;
  // Explicit stack of remaining element counts: no recursion, so depth is bounded by limits.
  const remaining: number[] = [];
  let pos = 0;
  let values = 1; // values still to read at the current level (top level: exactly one)

  const need = (n: number): void => {
    if (pos + n > end) throw ProtocolError.invalidPayload('truncated MessagePack data');
  };
  const readLen = (width: 1 | 2 | 4): number => {
    need(width);
    let v: number;
    if (width === 1) v = bytes[pos]!;
    else if (width === 2) v = (bytes[pos]! << 8) | bytes[pos + 1]!;
    else
      v =
        ((bytes[pos]! << 24) >>> 0) +
        ((bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!);
    pos += width;
    return v;
  };
  const skipString = (len: number): void => {
    if (len > limits.maxStringBytes)
      throw ProtocolError.limitExceeded('string bytes', len, limits.maxStringBytes);
    need(len);
    pos += len;
  };
  const openContainer = (count: number, perElement: number): void => {
    if (count > limits.maxArrayLength)
      throw ProtocolError.limitExceeded('array length', count, limits.maxArrayLength);
    // Every element takes at least one byte: a claim beyond the remaining bytes is a lie.
    if (count * perElement > end - pos)
      throw ProtocolError.invalidPayload('container longer than its frame');
    if (remaining.length + 1 > limits.maxDepth) {
      throw ProtocolError.limitExceeded('nesting depth', remaining.length + 1, limits.maxDepth);
    }
    remaining.push(values);
    values = count * perElement;
  };

  while (true) {
    while (values === 0) {
      if (remaining.length === 0) {
        if (pos !== end)
          throw ProtocolError.invalidPayload('trailing bytes after MessagePack value');
        return;
      }
      values = remaining.pop()!;
    }
    values--;
    need(1);
    const b = bytes[pos++]!;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) continue;
    if (b >= 0xa0 && b <= 0xbf) skipString(b & 0x1f);
    else if (b >= 0x90 && b <= 0x9f) openContainer(b & 0x0f, 1);
    else if (b >= 0x80 && b <= 0x8f) openContainer(b & 0x0f, 2);
    else {
      switch (b) {
        case 0xcc:
        case 0xd0:
          need(1);
          pos += 1;
          break;
        case 0xcd:
        case 0xd1:
          need(2);
          pos += 2;
          break;
        case 0xce:
        case 0xd2:
        case 0xca:
          need(4);
          pos += 4;
          break;
        case 0xcf:
        case 0xd3:
        case 0xcb:
          need(8);
          pos += 8;
          break;
        case 0xd9:
        case 0xc4:
          skipString(readLen(1));
          break;
        case 0xda:
        case 0xc5:
          skipString(readLen(2));
          break;
        case 0xdb:
        case 0xc6:
          skipString(readLen(4));
          break;
        case 0xdc:
          openContainer(readLen(2), 1);
          break;
        case 0xdd:
          openContainer(readLen(4), 1);
          break;
        case 0xde:
          openContainer(readLen(2), 2);
          break;
        case 0xdf:
          openContainer(readLen(4), 2);
          break;
        default:
          // 0xc1 (never used) and every extension type (0xc7–0xc9, 0xd4–0xd8).
          throw ProtocolError.invalidPayload(`unsupported MessagePack type 0x${b.toString(16)}`);
      }
    }
  }
}
