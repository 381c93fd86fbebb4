/**
 * Throwaway TLS material for tests, made with the openssl CLI: a CA, a server certificate it
 * signed for 127.0.0.1 (subjectAltName IP), and a second CA that signed nothing (to prove that
 * verification refuses a server it cannot trace to the configured CA).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificates {
  /** PEM of the CA that signed the server certificate. */
  caFile: string;
  /** PEM of the server certificate (CN and SAN 127.0.0.1) and its key. */
  certFile: string;
  keyFile: string;
  /** PEM of an unrelated CA. */
  otherCaFile: string;
}

/** Writes the files into `dir` (valid one day); throws with openssl's stderr when a step fails. */
export function makeTestCertificates(dir: string): TestCertificates {
  const sh = (args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  sh(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=skyhaul-test-ca']);
  sh(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  sh(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'san.ext']);
  sh(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.crt', '-days', '1', '-subj', '/CN=other-ca']);
  return { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key'), otherCaFile: join(dir, 'other.crt') };
}
