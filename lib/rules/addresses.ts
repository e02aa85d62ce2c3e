/**
 * Mail addresses as rules see them: mailparser's address objects flattened
 * (groups to their members) and domains normalised to Unicode or ASCII, so
 * matching compares one spelling of each address.
 */
import { domainToASCII, domainToUnicode } from 'node:url';
import type { AddressObject, EmailAddress } from 'mailparser';

/** One mailbox of an address header. Group members carry the group's name. */
export interface MailAddress {
  /** The display name, decoded; absent when there is none. */
  name?: string;
  /** `local@domain`, the domain in Unicode (IDN decoded). */
  address?: string;
  /** The name of the group (RFC 5322 3.4) the address was listed in. */
  group?: string;
}

/** Flattens mailparser's address objects: groups become their members, named after the group. */
export function flattenAddresses(value: AddressObject | AddressObject[] | undefined): MailAddress[] {
  const out: MailAddress[] = [];
  const push = (entry: EmailAddress, group?: string) => {
    if (entry.group) {
      for (const member of entry.group) push(member, entry.name || group);
      return;
    }
    if (!entry.address && !entry.name) return;
    const address: MailAddress = {};
    if (entry.name) address.name = entry.name;
    if (entry.address) address.address = normaliseAddress(entry.address);
    if (group) address.group = group;
    out.push(address);
  };
  for (const header of value === undefined ? [] : Array.isArray(value) ? value : [value]) {
    for (const entry of header.value) push(entry);
  }
  return out;
}

/** `local@domain` with the domain in Unicode and lower case (domains are case-insensitive, local parts are not). */
export function normaliseAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0) return address;
  const domain = address.slice(at + 1);
  const unicode = domainToUnicode(domain) || domain;
  return `${address.slice(0, at)}@${unicode.toLowerCase()}`;
}

/** The ASCII (punycode) form of an address's domain, e.g. `jorg@xn--bcher-kva.example`. */
export function asciiAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0) return address;
  const domain = address.slice(at + 1);
  return `${address.slice(0, at)}@${(domainToASCII(domain) || domain).toLowerCase()}`;
}
