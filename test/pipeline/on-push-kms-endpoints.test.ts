/**
 * The on-push Lambda (handler as deployed, with the deployed KMS client
 * factory) on a policy whose `awskms://ENDPOINT/…` is not AWS's own. The KMS
 * request would be signed with the member role's session (token included):
 * nothing reaches the endpoint unless SIGWATCH_KMS_ENDPOINTS lists it, the
 * authority fails with the reason, and a healthy record in the same batch
 * still gets its verdict.
 */
import { kmsPolicyYaml } from '../support/samples.ts';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { defaultClients } from '../../src/pipeline/assemble.ts';
import { buildImage, pushManifest, signImageWithKey } from '../support/index.ts';
import { BUCKET, KMS_KEY_ARN, kmsKey, OnPushScenario, PAYMENTS } from '../support/on-push-scenario.ts';

describe('on-push: KMS endpoints a policy names', () => {
  let sc: OnPushScenario;
  let endpoint: string;
  const connections: number[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('data', (chunk) => {
      connections.push(chunk[0]!);
      socket.destroy();
    });
    socket.on('close', () => sockets.delete(socket));
  });
  const image = buildImage({ seed: 'on-push-kms-endpoint' });

  before(async () => {
    sc = await OnPushScenario.start();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    await sc.servers.s3.put(
      BUCKET,
      'policies/acme/payments/kms-elsewhere.yaml',
      kmsPolicyYaml('kms-elsewhere', '**/team/elsewhere*', `awskms://${endpoint}/${KMS_KEY_ARN}`, 'kms-key'),
    );
    await pushManifest(sc.servers.reg, 'team/elsewhere', 'v1', image);
    await signImageWithKey(sc.servers.reg, 'team/elsewhere', image, kmsKey.privateKey);
  });
  beforeEach(async () => {
    connections.length = 0;
    await sc.reset();
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await sc?.stop();
  });

  const batch = () =>
    sc.batch(
      { id: 'hostile', body: sc.event('elsewhere', PAYMENTS, { 'repository-name': 'team/elsewhere', 'image-digest': image.digest, 'image-tag': 'v1' }) },
      { id: 'healthy', body: sc.event('signed', PAYMENTS, { 'image-digest': sc.images.signed!.digest, 'image-tag': 'v1' }) },
    );
  const kmsAuthority = (n: { policies: { name: string; authorities: { name: string; reason: string }[] }[] }) =>
    n.policies.find((p) => p.name === 'kms-elsewhere')?.authorities[0];

  it('sends nothing to an endpoint the operator did not allow; the authority fails saying how to allow it; the other record is judged', async () => {
    const res = await sc.handler({ clients: { kms: defaultClients().kms } })(batch());
    assert.deepEqual(res.batchItemFailures, []);
    const byImage = new Map((await sc.received('payments')).map((n) => [n.digest, n]));
    const hostile = byImage.get(image.digest)!;
    assert.equal(hostile.verdict, 'deny');
    assert.match(
      kmsAuthority(hostile)!.reason,
      new RegExp(`endpoint ${endpoint} is not one of AWS's own KMS endpoints for eu-west-1 .*SIGWATCH_KMS_ENDPOINTS=${endpoint} \\(the functions\\)`),
    );
    assert.equal(byImage.get(sc.images.signed!.digest)?.verdict, 'admit');
    assert.deepEqual(connections, [], 'no connection reached the endpoint');
    assert.doesNotMatch(sc.logs.join('\n'), /member-session-token/);
  });

  it('goes to the endpoint once SIGWATCH_KMS_ENDPOINTS lists it', async () => {
    const res = await sc.handler({ clients: { kms: defaultClients().kms }, env: { SIGWATCH_KMS_ENDPOINTS: endpoint } })(batch());
    assert.deepEqual(res.batchItemFailures, []);
    const hostile = (await sc.received('payments')).find((n) => n.digest === image.digest)!;
    // The stand-in speaks no TLS, so GetPublicKey fails; the request did go there, over TLS.
    assert.match(kmsAuthority(hostile)!.reason, /GetPublicKey failed/);
    assert.ok(connections.length >= 1);
    assert.equal(connections[0], 0x16);
  });
});
