/**
 * Ethernet (MAC-48) addresses: parsing to one canonical text form and the two
 * bits of the first octet that matter to a link's own address.
 */

/** Error for a MAC address that does not parse or cannot be a link's own address. */
export class MacError extends Error {
  constructor(readonly input: string, reason: string) {
    super(`${JSON.stringify(input)}: ${reason}`);
    this.name = 'MacError';
  }
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** Parses `aa:bb:cc:dd:ee:ff` (either case) into lower case; throws MacError otherwise. */
export function parseMac(input: string): string {
  if (typeof input !== 'string' || !MAC_RE.test(input)) throw new MacError(String(input), 'not a MAC address (six hex octets separated by ":")');
  return input.toLowerCase();
}

function firstOctet(mac: string): number {
  return parseInt(mac.slice(0, 2), 16);
}

/** Group bit (bit 0 of the first octet) clear: the address names one interface. */
export function isUnicastMac(mac: string): boolean {
  return (firstOctet(parseMac(mac)) & 0x01) === 0;
}

/** Locally administered bit (bit 1 of the first octet) set: not a vendor's address, so it cannot clash with a NIC's. */
export function isLocallyAdministeredMac(mac: string): boolean {
  return (firstOctet(parseMac(mac)) & 0x02) !== 0;
}

/**
 * Parses a MAC that a link may carry as its own address: the kernel refuses
 * a group (multicast/broadcast) or all-zero address with EADDRNOTAVAIL, so
 * those are refused here with a reason instead.
 */
export function parseUnicastMac(input: string): string {
  const mac = parseMac(input);
  if (!isUnicastMac(mac)) throw new MacError(input, 'a multicast/broadcast MAC (bit 0 of the first octet set) cannot be a link address');
  if (mac === '00:00:00:00:00:00') throw new MacError(input, 'the all-zero MAC cannot be a link address');
  return mac;
}

/**
 * A MAC from arbitrary bytes (e.g. a hash): the first six, with the first
 * octet made locally administered unicast.
 */
export function localUnicastMac(bytes: Uint8Array): string {
  if (bytes.length < 6) throw new Error(`localUnicastMac needs 6 bytes, got ${bytes.length}`);
  const octets = [...bytes.subarray(0, 6)];
  octets[0] = (octets[0]! & 0xfc) | 0x02;
  return octets.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
