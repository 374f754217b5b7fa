import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { KeyObject, webcrypto } from 'node:crypto';
// Test-only, from @sigstore/mock's dependencies (as in token-server.ts): node:crypto makes keys but not certificates.
import 'reflect-metadata';
import {
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  X509CertificateGenerator,
} from '@peculiar/x509';

/** A certificate and key for a TLS server on 127.0.0.1, issued by a CA this process trusts. */
export interface TestTls {
  /** The CA's certificate (PEM). */
  caPem: string;
  /** The server's certificate (PEM), for `127.0.0.1` and `localhost`. */
  certPem: string;
  /** The server's private key (PKCS#8 PEM). */
  keyPem: string;
}

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
// Wide, because under faketime Node (and OpenSSL in it) is shifted while Go servers keep real time.
const TEN_YEARS_MS = 10 * 365 * 86_400_000;

let shared: Promise<TestTls> | undefined;

/**
 * The process's test CA and a server certificate for 127.0.0.1, made once;
 * the CA is added to the default trust store of this process (what `fetch`
 * and node:https use when no `ca` is given), so that code under test reaches
 * a TLS test server exactly as it reaches a real registry: by `https://`,
 * with certificate checks on, and with no option of its own for it.
 */
export function testTls(): Promise<TestTls> {
  shared ??= makeTls().then((tls) => {
    setDefaultCACertificates([...getCACertificates('default'), tls.caPem]);
    return tls;
  });
  return shared;
}

async function makeTls(): Promise<TestTls> {
  const now = Date.now();
  const validity = { notBefore: new Date(now - TEN_YEARS_MS), notAfter: new Date(now + TEN_YEARS_MS) };
  const caKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=sigwatch test CA',
    ...validity,
    signingAlgorithm: EC,
    keys: caKeys,
    extensions: [new BasicConstraintsExtension(true, 0, true), new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true)],
  });
  const serverKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=127.0.0.1',
    issuer: ca.subject,
    ...validity,
    signingAlgorithm: EC,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth]),
      new SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'dns', value: 'localhost' },
      ]),
    ],
  });
  const keyPem = KeyObject.from(serverKeys.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString();
  return { caPem: ca.toString('pem'), certPem: cert.toString('pem'), keyPem };
}
