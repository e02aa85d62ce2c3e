/**
 * `verifyAuth: true` through the whole pipeline: APPEND → poll → process with
 * an injected DNS resolver (no network) → the `auth` condition decides, and
 * the verdicts travel in the event (validated against the schema).
 */
import { describe, expect, it } from 'vitest';
import { ACME_DNS, ACME_IP, signedInvoice } from '../fixtures/signed-mail.ts';
import { fakeDns } from '../helpers/fake-dns.ts';
import { trackedHarnesses } from '../helpers/process-harness.ts';

const harnessWith = trackedHarnesses();

describe('sender verification (verifyAuth) in the pipeline', () => {
  it('files only the invoices that really come from acme.example', async () => {
    // Prepare
    const harness = await harnessWith({
      accountSettings: { verifyAuth: true },
      rules: [
        {
          name: 'acme-invoices',
          when: {
            all: [
              { from: { domain: 'acme.example' } },
              { auth: { dkim: { result: 'pass', domain: 'acme.example' } } },
            ],
          },
          then: [
            { move: 'Finance/Invoices' },
            { emit: { detailType: 'invoice.received', detail: ['auth'] } },
          ],
          stop: true,
        },
        { name: 'suspicious', when: { from: { domain: 'acme.example' } }, then: [{ flag: 'suspicious' }] },
      ],
    });
    const [genuine, tampered, unsigned] = await harness.append([
      await signedInvoice(1, ACME_IP),
      await signedInvoice(2, ACME_IP, { tamper: true }),
      await signedInvoice(3, '203.0.113.9', { signed: false }),
    ]);
    await harness.poll();
    const { items } = await harness.receive();
    const dns = fakeDns(ACME_DNS);

    // Act
    const result = await harness.process(items, { dnsResolver: dns });

    // Assess
    expect(result.failed).toBe(0);
    expect(dns.asked).toContain('TXT s1._domainkey.acme.example');
    expect(await harness.uids('Finance/Invoices')).toHaveLength(1);
    const flags = await harness.flags();
    expect(flags.has(genuine!)).toBe(false); // moved
    expect(flags.get(tampered!)).toContain('suspicious');
    expect(flags.get(unsigned!)).toContain('suspicious');
    const [event] = harness.events();
    expect(event!.detail).toMatchObject({
      uid: genuine,
      auth: {
        source: 'verified',
        dkim: [{ result: 'pass', domain: 'acme.example', selector: 's1' }],
        spf: { result: 'pass', domain: 'acme.example' },
        dmarc: { result: 'pass', domain: 'acme.example' },
      },
    });
  });
});
