/**
 * `tlsOptions.ca` in a deployment. On one machine the config names a PEM file
 * and the IMAP layer reads it at connect time; a Lambda function has no such
 * file, so `cdk synth` reads it and bundles its content as `{ pem }` (a CA
 * certificate is public: it belongs in the bundle as much as the host name).
 * `{ pem }` and `{ secret }` travel as they are (a secret is read at connect
 * time, with the function's GetSecretValue grant).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { PostroomConfig } from '#lib/config/schema.ts';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates in a PEM file, or the `path: message` line saying why there are none. */
function readCaFile(path: string, at: string): { pem: string } | { problem: string } {
  let text: string;
  try {
    text = readFileSync(resolve(path), 'utf8');
  } catch (error) {
    return {
      problem:
        `${at}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'}; relative paths are ` +
        `read from ${process.cwd()}): cdk synth bundles the CA's content, so the file must be here`,
    };
  }
  const certificates = text.match(PEM_CERTIFICATE);
  if (!certificates)
    return { problem: `${at}: ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)` };
  // Only the certificates: whatever else the file holds (a private key, by mistake) stays behind.
  return { pem: `${certificates.join('\n')}\n` };
}

/** `path: message` lines for CA files that cannot be bundled. */
export function caProblems(config: PostroomConfig): string[] {
  return config.accounts.flatMap((account, index) => {
    const ca = account.tlsOptions?.ca;
    if (typeof ca !== 'string') return [];
    const read = readCaFile(ca, `accounts[${index}].tlsOptions.ca`);
    return 'problem' in read ? [read.problem] : [];
  });
}

/**
 * The config as the functions get it: a copy in which every `tlsOptions.ca`
 * path is replaced by `{ pem }` with the file's certificates. Call after
 * `caProblems` came back empty.
 */
export function withBundledCa(config: PostroomConfig): PostroomConfig {
  const copy = JSON.parse(JSON.stringify(config)) as PostroomConfig;
  copy.accounts.forEach((account, index) => {
    const ca = account.tlsOptions?.ca;
    if (typeof ca !== 'string' || !account.tlsOptions) return;
    const read = readCaFile(ca, `accounts[${index}].tlsOptions.ca`);
    if ('problem' in read) throw new Error(read.problem);
    account.tlsOptions.ca = { pem: read.pem };
  });
  return copy;
}
