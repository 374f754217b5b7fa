import { AWS_KMS_TEST_ACCESS_KEY_ID, AWS_KMS_TEST_SECRET_KEY, AWS_KMS_TEST_SESSION_TOKEN, assertNoSecrets } from '../support/secrets.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { buildImage, generateKeyPair, legacySignatureManifest, signatureTag, signPayload, simpleSigningPayload, writeOciLayout } from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';

/**
 * `awskms://ENDPOINT/…` names where sigwatch sends `GetPublicKey`, signed
 * (SigV4) with this machine's AWS credentials and their session token. The
 * policy's author writes that endpoint, so sigwatch sends nothing to one that
 * is not AWS's own unless the operator allows it. A TCP server on 127.0.0.1
 * stands for the author's endpoint and counts every connection made to it:
 * with the real KMS client and credentials (in the environment, with a
 * session token) nothing reaches it, until `--kms-endpoint` allows it.
 */

const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const work = mkdtempSync(join(tmpdir(), 'sigwatch-kms-endpoints-'));
const key = generateKeyPair();
const connections: { firstByte?: number }[] = [];
const sockets = new Set<Socket>();
const server = createServer((socket) => {
  const seen: { firstByte?: number } = {};
  connections.push(seen);
  sockets.add(socket);
  socket.once('data', (chunk) => {
    seen.firstByte = chunk[0];
    socket.destroy();
  });
  socket.on('close', () => sockets.delete(socket));
});
let endpoint: string;
const saved: Record<string, string | undefined> = {};
const CREDENTIALS = {
  AWS_ACCESS_KEY_ID: AWS_KMS_TEST_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY: AWS_KMS_TEST_SECRET_KEY,
  AWS_SESSION_TOKEN: AWS_KMS_TEST_SESSION_TOKEN,
  AWS_EC2_METADATA_DISABLED: 'true',
};

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const [name, value] of Object.entries(CREDENTIALS)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
  const image = buildImage({ seed: 'kms-endpoints' });
  const payload = simpleSigningPayload('registry.example.com/team/app', image.digest);
  await writeOciLayout(join(work, 'layout'), [
    { tag: 'v1', manifest: image },
    { tag: signatureTag(image.digest), manifest: legacySignatureManifest([{ payload, signature: signPayload(payload, key.privateKey) }]) },
  ]);
});
beforeEach(() => {
  connections.length = 0;
});
after(async () => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(work, { recursive: true, force: true });
});

function policy(ref: string): string {
  const file = join(work, `policy-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    `apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: kms-signed}\nspec:\n  images: [{glob: "**"}]\n  authorities:\n    - name: release-kms\n      key: {kms: "${ref}"}\n`,
  );
  return file;
}
const verify = (ref: string, ...flags: string[]) =>
  sigwatch('verify', `oci:${join(work, 'layout')}:v1`, '--policies', policy(ref), '--format', 'json', '--timeout', '20s', ...flags);

describe('awskms:// endpoints a policy names', () => {
  it('refuses an endpoint that is not AWS’s own: the authority fails naming it and how to allow it, and nothing reaches it', async () => {
    const r = await verify(`awskms://${endpoint}/${KEY_ARN}`);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const authority = r.json().policies[0]!.authorities[0]!;
    assert.equal(authority.verdict, 'fail');
    assert.equal(
      authority.reason,
      `KMS key ${KEY_ARN}: endpoint ${endpoint} is not one of AWS's own KMS endpoints for eu-west-1 (kms.eu-west-1.amazonaws.com, kms-fips.eu-west-1.amazonaws.com), ` +
        `so no signed request is sent to it; an operator who trusts it allows it with SIGWATCH_KMS_ENDPOINTS=${endpoint} (the functions) or --kms-endpoint ${endpoint} (sigwatch verify)`,
    );
    assert.equal(connections.length, 0, 'no connection reached the policy’s endpoint');
    assertNoSecrets(r.stdout + r.stderr, 'sigwatch verify output');
  });

  it('refuses AWS look-alikes and another region’s endpoint', async () => {
    for (const host of ['kms.eu-west-1.amazonaws.com.attacker.example:443', 'kms.us-east-1.amazonaws.com:443', 'kms.eu-west-1.amazonaws.com:8443']) {
      const r = await verify(`awskms://${host}/${KEY_ARN}`);
      assert.equal(r.code, 1, host);
      assert.match(
        r.json().policies[0]!.authorities[0]!.reason,
        new RegExp(`endpoint ${host.replaceAll('.', '\\.')} is not one of AWS's own KMS endpoints`),
        host,
      );
    }
    assert.equal(connections.length, 0);
  });

  it('sends the request to an endpoint the operator allows with --kms-endpoint', async () => {
    const r = await verify(`awskms://${endpoint}/${KEY_ARN}`, '--kms-endpoint', endpoint);
    // The server speaks no TLS, so GetPublicKey fails; what matters is that the client went there.
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.json().policies[0]!.authorities[0]!.reason, new RegExp(`KMS key ${KEY_ARN.replaceAll('/', '\\/')}: GetPublicKey failed`));
    assert.ok(connections.length >= 1, 'the allowed endpoint was contacted');
    assert.equal(connections[0]!.firstByte, 0x16, 'over TLS (a ClientHello), as to AWS');
  });

  it('refuses a malformed --kms-endpoint before verifying (exit 2)', async () => {
    const r = await verify(`awskms://${endpoint}/${KEY_ARN}`, '--kms-endpoint', 'https://kms.example/');
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'sigwatch: --kms-endpoint https://kms.example/: expected HOST[:PORT] as in awskms://HOST:PORT/arn:aws:kms:…\n');
    assert.equal(connections.length, 0);
  });
});
