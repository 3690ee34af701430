import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { GatewayError } from '../errors.js';

/**
 * Finds a request's client address: the socket's peer, or — when that peer is one of the
 * trusted reverse proxies — the right-most address in `X-Forwarded-For` that is not itself a
 * trusted proxy (entries further left are whatever the client wrote). Main thread.
 */
export class ClientAddress {
  private readonly trusted = new BlockList();
  private readonly any: boolean;

  /**
   * @param trustedProxies IPs or CIDRs (`10.0.0.0/8`, `::1`).
   * @throws {GatewayError} `CONCORD_ERR_CONFIG` for an entry that is neither.
   */
  constructor(trustedProxies: readonly string[]) {
    for (const entry of trustedProxies) {
      const [address, bits] = entry.split('/');
      const family = isIP(address ?? '');
      if (family === 0)
        throw GatewayError.config(`trusted proxy "${entry}" is not an IP address or CIDR`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (bits === undefined) this.trusted.addAddress(address!, type);
      else {
        const prefix = Number(bits);
        if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128))
          throw GatewayError.config(`trusted proxy "${entry}" has an invalid prefix length`);
        this.trusted.addSubnet(address!, prefix, type);
      }
    }
    this.any = trustedProxies.length > 0;
  }

  /** The client address of `req`. */
  of(req: IncomingMessage): string {
    const peer = normalize(req.socket.remoteAddress ?? 'unknown');
    if (!this.any || !this.isTrusted(peer)) return peer;
    const header = req.headers['x-forwarded-for'];
    const list = (Array.isArray(header) ? header.join(',') : (header ?? ''))
      .split(',')
      .map((s) => normalize(s.trim()))
      .filter((s) => isIP(s) !== 0);
    for (let i = list.length - 1; i >= 0; i--) if (!this.isTrusted(list[i]!)) return list[i]!;
    return list[0] ?? peer;
  }

  private isTrusted(address: string): boolean {
    const family = isIP(address);
    if (family === 0) return false;
    return this.trusted.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}

// "::ffff:127.0.0.1" (an IPv4 peer on a dual-stack socket) → "127.0.0.1".
function normalize(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
