/**
 * What per-client limits count by (the failed-key limit, auth-limit.ts; the
 * websocket cap, ws.ts): an IPv4 address as it is, also when written
 * IPv4-mapped; an IPv6 address by its /64, since one subscriber is commonly
 * given a whole /64 and counting single addresses would give it 2^64 fresh
 * budgets. A zone (`%eth0`) is ignored.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** The counting key of a client address. */
export function clientKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  const addr = ip.split('%')[0]!;
  if (!isIPv6(addr)) return ip;
  const [head = '', tail] = addr.split('::');
  const groups = (s: string): string[] => (s ? s.split(':') : []);
  // An embedded dotted IPv4 (only ever at the end) stands for two groups.
  const width = (g: string[]): number => g.reduce((n, x) => n + (x.includes('.') ? 2 : 1), 0);
  const h = groups(head);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - width(h) - width(groups(tail))).fill('0'), ...groups(tail)];
  return `${all.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

