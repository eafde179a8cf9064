import type { PiiMatch } from '../entities.ts';

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_BODY = `${OCTET}(?:\\.${OCTET}){3}`;

/**
 * Words after which a dotted quad is a version or a section number, not an address: `version
 * 1.2.3.4`, `firmware 2.1.0.3`, `section 3.2.1.4`. Only the word right before the number counts;
 * the streaming redactor relies on that (see boundaries.ts).
 */
export const VERSION_WORDS: readonly string[] = [
  'v',
  'ver',
  'version',
  'build',
  'release',
  'firmware',
  'fw',
  'rev',
  'revision',
  'section',
  'chapter',
  'clause',
];

/**
 * Four valid octets, no leading zeros, not part of a longer dotted number (OIDs, five-part
 * versions), not after a version word, and not a product token of a user agent (`Chrome/120.0.0.0`).
 * A first octet of 255 is a netmask or broadcast address, not a host.
 */
const IPV4 = new RegExp(
  `(?<![\\w.])(?<![A-Za-z]/)(?<!(?:^|[^\\w])(?:${VERSION_WORDS.join('|')})\\s*[:=#]?\\s*)` +
    `(?!255\\.)${IPV4_BODY}(?![\\w]|\\.\\d)`,
  'gi',
);

const H = '[0-9A-Fa-f]{1,4}';
/** RFC 4291 section 2.2 text forms, including `::` compression and an embedded IPv4 tail. */
const IPV6_BODY = [
  `(?:${H}:){7}${H}`,
  `(?:${H}:){1,7}:`,
  `(?:${H}:){1,6}:${H}`,
  `(?:${H}:){1,5}(?::${H}){1,2}`,
  `(?:${H}:){1,4}(?::${H}){1,3}`,
  `(?:${H}:){1,3}(?::${H}){1,4}`,
  `(?:${H}:){1,2}(?::${H}){1,5}`,
  `${H}:(?::${H}){1,6}`,
  `:(?::${H}){1,7}`,
  `(?:${H}:){6}${IPV4_BODY}`,
  `(?:${H}:){1,5}:(?:${H}:){0,4}${IPV4_BODY}`,
  `::(?:${H}:){0,5}${IPV4_BODY}`,
].join('|');
const IPV6 = new RegExp(`(?<![\\w:.])(?:${IPV6_BODY})(?![\\w:]|\\.\\d)`, 'g');

export function findIpAddresses(text: string): PiiMatch[] {
  const found: PiiMatch[] = [];
  for (const m of text.matchAll(IPV4)) {
    found.push({ entity: 'ip_address', start: m.index, end: m.index + m[0].length, value: m[0] });
  }
  for (const m of text.matchAll(IPV6)) {
    // Without a decimal digit it is far more likely code (`cafe::beef`, `Foo::Bar`) than an address.
    if (!/\d/.test(m[0])) continue;
    found.push({ entity: 'ip_address', start: m.index, end: m.index + m[0].length, value: m[0] });
  }
  return found;
}
