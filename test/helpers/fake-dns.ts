/**
 * A DNS resolver from a table, for sender verification without network:
 * `{ 'TXT acme.example': [['v=spf1 ip4:192.0.2.10 -all']] }`. Names it does
 * not know answer ENOTFOUND, as `dns.promises.resolve` does.
 */
import type { DnsResolver } from '#lib/mime/verify-auth.ts';

export function fakeDns(records: Record<string, unknown[]>): DnsResolver & { asked: string[] } {
  const asked: string[] = [];
  const resolver = async (name: string, rrtype: string) => {
    const key = `${rrtype} ${name.toLowerCase().replace(/\.$/, '')}`;
    asked.push(key);
    const answer = records[key];
    if (answer === undefined) {
      throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND', hostname: name });
    }
    return answer;
  };
  return Object.assign(resolver, { asked });
}
