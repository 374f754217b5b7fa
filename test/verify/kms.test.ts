import { kmsPolicyYaml } from '../support/samples.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { KmsKeyResolver, kmsEndpointRefusal, parseKmsReference } from '../../src/trust/kms.ts';
import { buildImage, generateKeyPair, legacySignatureManifest, signatureTag, signPayload, simpleSigningPayload, writeOciLayout } from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';

const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ALIAS_ARN = 'arn:aws:kms:eu-west-1:111122223333:alias/release-signing';
const work = mkdtempSync(join(tmpdir(), 'sigwatch-kms-'));
const key = generateKeyPair();
const kms = mockClient(KMSClient);
// The public half of `key`, as KMS GetPublicKey returns it (DER SubjectPublicKeyInfo).
const der = Buffer.from(key.publicKeyPem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');

before(async () => {
  const image = buildImage({ seed: 'kms' });
  const payload = simpleSigningPayload('registry.example.com/team/app', image.digest);
  await writeOciLayout(join(work, 'layout'), [
    { tag: 'v1', manifest: image },
    { tag: signatureTag(image.digest), manifest: legacySignatureManifest([{ payload, signature: signPayload(payload, key.privateKey) }]) },
  ]);
});
afterEach(() => kms.reset());
after(() => {
  kms.restore();
  rmSync(work, { recursive: true, force: true });
});

function policy(ref: string): string {
  const file = join(work, `policy-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, kmsPolicyYaml('kms-signed', '**', ref, 'release-kms'));
  return file;
}

const verify = (ref: string) => sigwatch('verify', `oci:${join(work, 'layout')}:v1`, '--policies', policy(ref), '--format', 'json');

describe('AWS KMS key authorities', () => {
  it('verifies with the public key from GetPublicKey, asking for exactly that key', async () => {
    kms.on(GetPublicKeyCommand).resolves({ KeyId: KEY_ARN, PublicKey: der, KeySpec: 'ECC_NIST_P256' });
    const r = await verify(`awskms:///${KEY_ARN}`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const calls = kms.commandCalls(GetPublicKeyCommand);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.args[0].input, { KeyId: KEY_ARN });
  });

  it('accepts alias ARNs, passing the alias as the key id', async () => {
    kms.on(GetPublicKeyCommand).resolves({ PublicKey: der });
    assert.equal((await verify(`awskms:///${ALIAS_ARN}`)).code, 0);
    assert.deepEqual(kms.commandCalls(GetPublicKeyCommand)[0]!.args[0].input, { KeyId: ALIAS_ARN });
  });

  it('denies when KMS refuses, naming the key and the error, not admitting', async () => {
    kms.on(GetPublicKeyCommand).rejects(Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' }));
    const r = await verify(`awskms:///${KEY_ARN}`);
    assert.equal(r.code, 1);
    assert.match(r.json().reasons[0]!, new RegExp(`KMS key ${KEY_ARN.replace(/[/.]/g, '\\$&')}: GetPublicKey failed \\(AccessDeniedException\\)`));
  });

  it('denies with another KMS key', async () => {
    const other = generateKeyPair().publicKeyPem.replace(/-----[A-Z ]+-----|\s/g, '');
    kms.on(GetPublicKeyCommand).resolves({ PublicKey: Buffer.from(other, 'base64') });
    const r = await verify(`awskms:///${KEY_ARN}`);
    assert.equal(r.code, 1);
    assert.match(r.json().reasons[0]!, /does not verify with the authority's key/);
  });

  it('says clearly that other KMS providers are not supported', async () => {
    const r = await verify('gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k');
    assert.equal(r.code, 1);
    assert.match(r.json().reasons[0]!, /gcpkms KMS provider is not supported/);
    assert.equal(kms.commandCalls(GetPublicKeyCommand).length, 0);
  });

  it('caches a key per ARN, and forgets a failure so the next verification retries', async () => {
    kms
      .on(GetPublicKeyCommand)
      .rejectsOnce(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }))
      .resolves({ PublicKey: der });
    const resolver = new KmsKeyResolver(async () => new KMSClient({ region: 'eu-west-1' }));
    await assert.rejects(resolver.resolve(`awskms:///${KEY_ARN}`), /ThrottlingException/);
    const a = await resolver.resolve(`awskms:///${KEY_ARN}`);
    const b = await resolver.resolve(`awskms:///${KEY_ARN}`);
    assert.equal(a, b);
    assert.equal(kms.commandCalls(GetPublicKeyCommand).length, 2);
  });

  it("trusts only AWS's own KMS endpoints for the key's region, and those the operator lists", () => {
    const at = (endpoint: string, arn = KEY_ARN) => ({ ...parseKmsReference(`awskms:///${arn}`), endpoint });
    for (const own of ['', 'kms.eu-west-1.amazonaws.com:443', 'KMS-FIPS.eu-west-1.amazonaws.com:443', 'kms.eu-west-1.amazonaws.com']) {
      assert.equal(kmsEndpointRefusal(at(own), []), undefined, own);
    }
    const china = 'arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    assert.equal(kmsEndpointRefusal(at('kms.cn-north-1.amazonaws.com.cn:443', china), []), undefined);
    assert.match(
      kmsEndpointRefusal(at('kms.cn-north-1.amazonaws.com:443', china), []) ?? '',
      /not one of AWS's own KMS endpoints for cn-north-1 \(kms\.cn-north-1\.amazonaws\.com\.cn,/,
    );
    for (const foreign of [
      'kms.us-east-1.amazonaws.com:443',
      'kms.eu-west-1.amazonaws.com:4443',
      'kms.eu-west-1.amazonaws.com.evil.example:443',
      'vpce-1.kms.eu-west-1.vpce.amazonaws.com:443',
      'localhost:4566',
    ]) {
      assert.match(kmsEndpointRefusal(at(foreign), []) ?? '', /is not one of AWS's own KMS endpoints/, foreign);
    }
    assert.equal(
      kmsEndpointRefusal(at('vpce-1.kms.eu-west-1.vpce.amazonaws.com:443'), ['VPCE-1.kms.eu-west-1.vpce.amazonaws.com']),
      undefined,
      'port 443 implied, case ignored',
    );
    assert.equal(kmsEndpointRefusal(at('localhost:4566'), ['localhost:4566']), undefined);
    assert.match(kmsEndpointRefusal(at('localhost:4567'), ['localhost:4566']) ?? '', /SIGWATCH_KMS_ENDPOINTS=localhost:4567/);
  });

  it('refuses before making a client, and caches per endpoint', async () => {
    let made = 0;
    const resolver = new KmsKeyResolver(
      async () => {
        made++;
        return new KMSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
      },
      { allowedEndpoints: ['localhost:4566'] },
    );
    await assert.rejects(resolver.resolve(`awskms://attacker.example:443/${KEY_ARN}`), /endpoint attacker\.example:443 is not one of AWS's own/);
    assert.equal(made, 0);
    kms.on(GetPublicKeyCommand).resolves({ PublicKey: der });
    await resolver.resolve(`awskms:///${KEY_ARN}`);
    await resolver.resolve(`awskms://localhost:4566/${KEY_ARN}`);
    await resolver.resolve(`awskms:///${KEY_ARN}`);
    assert.equal(made, 2, 'one client per endpoint, the key kept per endpoint');
  });

  it('reads the account, region and endpoint of a reference', () => {
    assert.deepEqual(parseKmsReference(`awskms://kms.eu-west-1.vpce.example:443/${KEY_ARN}`), {
      arn: KEY_ARN,
      region: 'eu-west-1',
      account: '111122223333',
      endpoint: 'kms.eu-west-1.vpce.example:443',
    });
    assert.throws(() => parseKmsReference('awskms:///alias/short'), /expected awskms:\/\/\/arn/);
  });
});
