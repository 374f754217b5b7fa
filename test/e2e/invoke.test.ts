import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Notification } from '../../src/notify/notification.ts';
import { parseLocalConfig, mirrorFor } from '../../src/pipeline/local-config.ts';
import { formatProblem } from '../../src/field-reader.ts';
import { buildSamples, generateKeyPair, keyPolicyYaml, pushSamples, startRegistry, type TestRegistry } from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';
import { ecrImageAction, PAYMENTS } from '../support/events.ts';

const ECR_HOST = `${PAYMENTS}.dkr.ecr.eu-west-1.amazonaws.com`;
const FIXTURES = new URL('../fixtures/invoke/', import.meta.url).pathname;
const key = generateKeyPair();
const samples = buildSamples({ dockerReference: 'x/team/app', key: key.privateKey, otherKey: generateKeyPair().privateKey });
const digestOf = (tag: string) => samples.find((s) => s.tag === tag)!.image.digest;

// Tagged: an untagged platform manifest is judged through its index (see the multi-arch test).
const ecrEvent = (id: string, digest: string, tag = 'latest') => ecrImageAction(id, { 'image-digest': digest, 'image-tag': tag });

/** Pretty-printed notifications, one JSON document after another. */
function notifications(stdout: string): Notification[] {
  const out: Notification[] = [];
  for (const chunk of stdout.split(/\n(?=\{)/)) if (chunk.trim()) out.push(JSON.parse(chunk) as Notification);
  return out;
}

describe('sigwatch invoke', () => {
  let reg: TestRegistry;
  let dir: string;
  let config: string;
  const file = (name: string, content: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    return path;
  };

  before(async () => {
    reg = await startRegistry();
    await pushSamples(reg, 'team/app', samples);
    dir = mkdtempSync(join(tmpdir(), 'sigwatch-invoke-'));
    file('release.yaml', keyPolicyYaml('release', '**', key.publicKeyPem));
    // Relative paths in a config are read from the config file's folder.
    config = file('local.yaml', `policies: ./release.yaml\nregistries:\n  mirror:\n    "${ECR_HOST}": "${reg.host}"\n  insecure: ["${reg.host}"]\n`);
  });
  after(async () => {
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('admits a signed image, verified against the mirror and never the ECR host, and prints the notification', async () => {
    const event = file('signed.json', ecrEvent('signed', digestOf('signed'), 'v1'));
    const r = await sigwatch('invoke', event, '--config', config);
    assert.equal(r.code, 0, r.stderr);
    const [n, ...rest] = notifications(r.stdout);
    assert.equal(rest.length, 0);
    assert.equal(n!.verdict, 'admit');
    assert.equal(n!.schemaVersion, 1);
    assert.equal(n!.trigger, 'push');
    // The notification names the ECR image the event was about …
    assert.equal(n!.image, `${ECR_HOST}/team/app@${digestOf('signed')}`);
    assert.deepEqual(n!.tags, ['v1']);
    assert.equal(n!.account, PAYMENTS);
    assert.equal(n!.region, 'eu-west-1');
    assert.equal(n!.eventId, 'evt-signed');
    assert.deepEqual(
      n!.policies.map((p) => [p.name, p.verdict]),
      [['release', 'pass']],
    );
    assert.ok(!Number.isNaN(Date.parse(n!.time)));
    // … and the signature that admitted it could only have come from the local registry.
    assert.equal(n!.policies[0]!.authorities[0]!.signers.length, 1);
    assert.match(r.stderr, /1 verdict \(1 admit, 0 warn, 0 deny\)/);
  });

  it('sends registry requests to the mirror: an unreachable mirror is "could not verify" (exit 1) naming it, not the ECR host', async () => {
    const dead = file('dead.yaml', `policies: ./release.yaml\nregistries:\n  mirror: { "*": "127.0.0.1:1" }\n  insecure: ["127.0.0.1:1"]\n`);
    const event = file('signed-dead.json', ecrEvent('dead', digestOf('signed')));
    const r = await sigwatch('invoke', event, '--config', dead);
    assert.equal(r.code, 1, r.stderr);
    const [n] = notifications(r.stdout);
    assert.equal(n!.verdict, 'error');
    assert.equal(n!.error?.code, 'REGISTRY_UNREACHABLE');
    assert.match(r.stderr, /1 could not be verified/);
    const reasons = JSON.stringify(n);
    assert.match(reasons, /127\.0\.0\.1:1\b/);
    assert.doesNotMatch(reasons.replaceAll(`"${ECR_HOST}"`, '').replaceAll(`${ECR_HOST}/team/app@`, ''), /amazonaws\.com/);
  });

  it('denies an unsigned image with exit 1', async () => {
    const event = file('unsigned.json', ecrEvent('unsigned', digestOf('unsigned')));
    const r = await sigwatch('invoke', event, '--config', config);
    assert.equal(r.code, 1, r.stderr);
    const [n] = notifications(r.stdout);
    assert.equal(n!.verdict, 'deny');
    assert.equal(n!.digest, digestOf('unsigned'));
    assert.deepEqual(n!.tags, ['latest']);
    assert.ok(n!.reasons.length > 0);
  });

  it('gives each event of an SQS batch its notification, in the line format on request', async () => {
    const batch = {
      Records: [
        {
          messageId: 'm1',
          eventSource: 'aws:sqs',
          body: JSON.stringify(ecrEvent('a', digestOf('signed'), 'v1')),
          attributes: { ApproximateReceiveCount: '1' },
        },
        { messageId: 'm2', eventSource: 'aws:sqs', body: JSON.stringify(ecrEvent('b', digestOf('unsigned'))), attributes: { ApproximateReceiveCount: '1' } },
      ],
    };
    const event = file('batch.json', batch);
    const json = await sigwatch('invoke', event, '--config', config);
    assert.equal(json.code, 1, json.stderr);
    const byDigest = new Map(notifications(json.stdout).map((n) => [n.digest, n.verdict]));
    assert.equal(byDigest.size, 2);
    assert.equal(byDigest.get(digestOf('signed')), 'admit');
    assert.equal(byDigest.get(digestOf('unsigned')), 'deny');

    const line = await sigwatch('invoke', event, '--config', config, '--format', 'line');
    const lines = line.stdout.trim().split('\n').sort();
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, new RegExp(`^ADMIT ${ECR_HOST.replaceAll('.', '\\.')}/team/app@${digestOf('signed')} policies=release:pass trigger=push$`));
    assert.match(lines[1]!, /^DENY .* reason=/);
  });

  it('reports a rejected record on stderr, still judges the good one, and exits 1', async () => {
    const batch = {
      Records: [
        { messageId: 'ok', eventSource: 'aws:sqs', body: JSON.stringify(ecrEvent('ok', digestOf('signed'))) },
        { messageId: 'bad', eventSource: 'aws:sqs', body: '{not json' },
      ],
    };
    const r = await sigwatch('invoke', file('poisoned.json', batch), '--config', config);
    assert.equal(r.code, 1);
    assert.equal(notifications(r.stdout)[0]!.verdict, 'admit');
    const logs = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(logs.some((l) => l.message === 'event rejected' && l.messageId === 'bad' && /not JSON/.test(String(l.reason))));
    assert.match(r.stderr, /1 record failed/);
  });

  it('rejects an event that is not an ECR event with exit 1 and the reason', async () => {
    const r = await sigwatch('invoke', join(FIXTURES, 'not-an-ecr-event.json'), '--config', config);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /event rejected/);
    assert.match(r.stderr, /detail-type|source/);
  });

  it('exits 2 for an event file that is not JSON, an empty batch, or a missing file', async () => {
    const notJson = await sigwatch('invoke', join(FIXTURES, 'not-json.json'), '--config', config);
    assert.equal(notJson.code, 2);
    assert.match(notJson.stderr, /not-json\.json is not an ECR event.*not JSON/);

    const empty = await sigwatch('invoke', join(FIXTURES, 'empty-batch.json'), '--config', config);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /no records/);

    const missing = await sigwatch('invoke', join(dir, 'nope.json'), '--config', config);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read event file .*nope\.json/);
    assert.equal(missing.stdout, '');
  });

  it('reads signaturePullSecrets from --pull-secrets DIR in a local config, and says how when there is none', async () => {
    file(
      'pull-secret-policy.yaml',
      keyPolicyYaml('release', '**', key.publicKeyPem).replace(
        '      key:',
        `      source:\n        - oci: ${ECR_HOST}/team/app\n          signaturePullSecrets: [{name: regcreds}]\n      key:`,
      ),
    );
    const cfg = file(
      'pull-secrets.yaml',
      `policies: ./pull-secret-policy.yaml\nregistries:\n  mirror:\n    "${ECR_HOST}": "${reg.host}"\n  insecure: ["${reg.host}"]\n`,
    );
    const event = file('pull-secrets-event.json', ecrEvent('ps', digestOf('signed'), 'v1'));
    const none = await sigwatch('invoke', event, '--config', cfg);
    assert.equal(none.code, 1);
    assert.match(
      JSON.stringify(notifications(none.stdout)[0]!.reasons),
      /signaturePullSecrets: no pull secrets in a local run; give --pull-secrets DIR \(Kubernetes Secret manifests\) or pullSecrets in the config/,
    );
    const secrets = join(dir, 'secrets');
    mkdirSync(secrets, { recursive: true });
    // Keyed by the registry the policy names (the ECR host), not by the mirror it is read from.
    const auths = JSON.stringify({ auths: { [ECR_HOST]: { username: 'ci', password: 'x', auth: Buffer.from('ci:x').toString('base64') } } });
    writeFileSync(
      join(secrets, 'regcreds.yaml'),
      `apiVersion: v1\nkind: Secret\nmetadata: {name: regcreds}\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: ${Buffer.from(auths).toString('base64')}\n`,
    );
    const ok = await sigwatch('invoke', event, '--config', cfg, '--pull-secrets', secrets);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal(notifications(ok.stdout)[0]!.verdict, 'admit');
  });

  it('exits 2 for usage errors', async () => {
    assert.equal((await sigwatch('invoke')).code, 2);
    assert.equal((await sigwatch('invoke', 'a.json', 'b.json')).code, 2);
    const format = await sigwatch('invoke', join(FIXTURES, 'empty-batch.json'), '--format', 'xml');
    assert.equal(format.code, 2);
    assert.match(format.stderr, /--format must be one of json, line/);
    assert.equal((await sigwatch('invoke', '--bogus')).code, 2);
    const help = await sigwatch('invoke', '--help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /usage: sigwatch invoke/);
  });

  it('exits 2 for a missing config file', async () => {
    const event = file('cfg-missing.json', ecrEvent('x', digestOf('signed')));
    const r = await sigwatch('invoke', event, '--config', join(dir, 'absent.yaml'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot read config .*absent\.yaml/);
    assert.equal(r.stdout, '');
  });

  it('exits 2 for an invalid config, naming the path of each problem', async () => {
    const event = file('cfg-invalid.json', ecrEvent('x', digestOf('signed')));
    const unknown = await sigwatch('invoke', event, '--config', join(FIXTURES, 'unknown-key.yaml'));
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /registries\.proxy: unknown field/);

    const bad = await sigwatch('invoke', event, '--config', join(FIXTURES, 'bad-values.json'));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /noMatch: invalid value: "maybe": expected one of deny, allow, warn/);
    assert.match(bad.stderr, /registries\.mirror\["111122223333\.dkr\.ecr\.eu-west-1\.amazonaws\.com"\]: expected a registry host/);
    assert.match(bad.stderr, /registries\.insecure: expected a list/);
    assert.match(bad.stderr, /notifier\.format: invalid value: "xml": expected one of json, line/);
  });

  it('exits 2 when the policies cannot be loaded', async () => {
    const event = file('no-policies.json', ecrEvent('x', digestOf('signed')));
    const cfg = file('no-policies.yaml', 'policies: ./does-not-exist\n');
    const r = await sigwatch('invoke', event, '--config', cfg);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
  });

  it('applies noMatch from the config', async () => {
    const other = file('other.yaml', keyPolicyYaml('other', 'elsewhere.example/**', key.publicKeyPem));
    const cfg = file('warn.json', {
      policies: other,
      noMatch: 'warn',
      registries: { mirror: { '*': reg.host }, insecure: [reg.host] },
      notifier: { format: 'line' },
    });
    const r = await sigwatch('invoke', file('nomatch.json', ecrEvent('nm', digestOf('unsigned'))), '--config', cfg);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^WARN /);
  });
});

describe('local config', () => {
  it('defaults, resolves relative paths against the config folder, and maps mirrors', () => {
    const r = parseLocalConfig('policies: p\nregistries:\n  mirror:\n    "A.example": "127.0.0.1:5000"\n    "*": "mirror.local"\n  config: d.json\n', '/cfg');
    assert.ok(r.ok);
    assert.equal(r.config.policies, '/cfg/p');
    assert.equal(r.config.registries.config, '/cfg/d.json');
    assert.equal(r.config.noMatch, 'deny');
    assert.equal(r.config.notifier.format, 'json');
    assert.equal(mirrorFor(r.config, 'a.example'), '127.0.0.1:5000');
    assert.equal(mirrorFor(r.config, 'b.example'), 'mirror.local');
    const s3 = parseLocalConfig('{"policies": "s3://bucket/prefix/"}');
    assert.ok(s3.ok);
    assert.equal(s3.config.policies, 's3://bucket/prefix/');
    assert.equal(mirrorFor(s3.config, ECR_HOST), ECR_HOST);
  });

  it('refuses what is not a mapping, duplicate keys, bad hosts and ports', () => {
    for (const [text, pattern] of [
      ['', /^expected a mapping, got nothing$/],
      ['- a\n', /^expected a mapping, got a list$/],
      ['policies: a\npolicies: b\n', /^YAML: Map keys must be unique/],
      ['? [a]\n: b\n', /^YAML: mapping keys must be plain strings$/],
      ['registries: { insecure: ["127.0.0.1:99999"] }', /registries\.insecure\[0\]: port 99999/],
      ['registries: { mirror: { "bad host": "127.0.0.1:5000" } }', /registries\.mirror\["bad host"\]: key/],
      ['notifier: {}', /notifier\.format: missing/],
      ['policies: ""', /policies: empty value/],
      ['policies: "  "', /policies: empty value/],
      ['extra: 1', /extra: unknown field/],
    ] as const) {
      const r = parseLocalConfig(text);
      assert.ok(!r.ok, text);
      assert.match(r.problems.map(formatProblem).join('\n'), pattern, text);
    }
  });
});
