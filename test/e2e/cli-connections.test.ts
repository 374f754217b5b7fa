import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildSamples, generateKeyPair, keyPolicyYaml, pushSamples, startRegistry } from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';
import { ALICE_PASSWORD } from '../support/secrets.ts';
import { startCountingProxy } from '../support/tcp-proxy.ts';

const work = mkdtempSync(join(tmpdir(), 'sigwatch-cli-connections-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** `sigwatch verify` from cold, counted by a TCP proxy in front of docker-registry: one connection per registry. */
describe('sigwatch verify opens one connection per registry', () => {
  const key = generateKeyPair();
  const policy = join(work, 'release.yaml');
  writeFileSync(policy, keyPolicyYaml('release', '**', key.publicKeyPem));

  for (const auth of [undefined, { username: 'alice', password: ALICE_PASSWORD }]) {
    it(auth ? 'behind htpasswd, with the credentials in --registry-config' : 'anonymous', async () => {
      const reg = await startRegistry(auth ? { auth } : {});
      const proxy = await startCountingProxy(reg.host);
      try {
        const samples = buildSamples({ dockerReference: `${proxy.host}/team/app`, key: key.privateKey, otherKey: generateKeyPair().privateKey });
        await pushSamples(reg, 'team/app', samples);
        const args = ['verify', `${proxy.host}/team/app:signed`, '--policies', policy, '--insecure-registry', proxy.host, '--format', 'json'];
        if (auth) {
          const config = join(work, 'config.json');
          writeFileSync(config, JSON.stringify({ auths: { [proxy.host]: { auth: Buffer.from(`alice:${ALICE_PASSWORD}`).toString('base64') } } }));
          args.push('--registry-config', config);
        }
        const r = await sigwatch(...args);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(r.json().verdict, 'admit');
        // The tag, the .sig manifest and the referrers list (asked together), the signature blob: all on one connection.
        assert.equal(proxy.connections, 1);
      } finally {
        await proxy.close();
        await reg.stop();
      }
    });
  }
});
