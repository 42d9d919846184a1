/**
 * CIDR checks shared by the server (token `bound_cidrs`) and the auth methods (`token_bound_cidrs`,
 * `secret_id_bound_cidrs`), with Vault's `cidrutil` rules
 * (https://github.com/hashicorp/go-secure-stdlib/blob/main/cidrutil/cidr.go).
 */
import { BlockList, isIP } from 'node:net';
import { LogicalError } from '../sdk/logical.js';

/** Whether an IP address lies in one of the CIDR blocks (invalid blocks are ignored). */
export function addressInCidrs(address: string, cidrs: readonly string[]): boolean {
  const family = isIP(address);
  if (!family) return false;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [net, bits] = cidr.trim().split('/');
    const netFamily = isIP(net ?? '');
    if (!net || !netFamily) continue;
    const prefix = bits === undefined ? (netFamily === 4 ? 32 : 128) : Number(bits);
    if (!Number.isInteger(prefix)) continue;
    try {
      list.addSubnet(net, prefix, netFamily === 4 ? 'ipv4' : 'ipv6');
    } catch {
      // ignore malformed blocks
    }
  }
  return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Strips an IPv4-mapped IPv6 prefix (`::ffff:127.0.0.1` → `127.0.0.1`) and any zone id. */
export function normalizeAddress(address: string): string {
  const plain = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(plain);
  return mapped?.[1] ?? plain;
}

function parseCidr(cidr: string): { address: string; prefix: number; family: 4 | 6 } | undefined {
  const [rawAddress, rawPrefix, extra] = cidr.trim().split('/');
  if (rawAddress === undefined || extra !== undefined) return undefined;
  const address = normalizeAddress(rawAddress);
  const family = isIP(address);
  if (family !== 4 && family !== 6) return undefined;
  const max = family === 4 ? 32 : 128;
  if (rawPrefix === undefined) return { address, prefix: max, family };
  if (!/^\d+$/.test(rawPrefix)) return undefined;
  const prefix = Number.parseInt(rawPrefix, 10);
  if (prefix > max) return undefined;
  return { address, prefix, family };
}

/** A CIDR block with an IPv4-mapped IPv6 address rewritten to IPv4 (`::ffff:10.0.0.0/8` → `10.0.0.0/8`). */
function normalizeCidr(cidr: string): string {
  const block = parseCidr(cidr);
  return block ? `${block.address}/${block.prefix}` : cidr;
}

/** Validates a list of CIDR blocks (bare addresses are single-host blocks); 400 naming the field on a bad entry. */
export function validateCidrs(cidrs: readonly string[], field: string): string[] {
  for (const cidr of cidrs) {
    if (!parseCidr(cidr)) throw new LogicalError(400, `invalid CIDR block in "${field}": "${cidr}"`);
  }
  return [...cidrs];
}

/** True when `cidrs` is empty or `address` lies in one of them (Vault's `cidrutil.RemoteAddrIsOk`). */
export function addressAllowed(address: string, cidrs: readonly string[]): boolean {
  if (cidrs.length === 0) return true;
  return addressInCidrs(normalizeAddress(address), cidrs.map(normalizeCidr));
}

/** True when every block of `inner` lies inside some block of `outer` (Vault's `cidrutil.SubsetBlocks`). */
export function cidrsSubset(outer: readonly string[], inner: readonly string[]): boolean {
  return inner.every((cidr) => {
    const block = parseCidr(cidr);
    if (!block) return false;
    return outer.some((candidate) => {
      const parent = parseCidr(candidate);
      return (
        parent !== undefined &&
        parent.family === block.family &&
        parent.prefix <= block.prefix &&
        addressInCidrs(block.address, [normalizeCidr(candidate)])
      );
    });
  });
}
