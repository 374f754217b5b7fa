/**
 * `npm run demo`: the on-push pipeline end to end with no AWS, no Docker and no
 * network. Sample images and their cosign signatures are written to an OCI
 * image layout (keys made now, thrown away after); a sigwatch configuration
 * associates two member accounts with two teams of one organisation; policies
 * sit under their groups' prefixes as in the config bucket. ECR push events
 * for those images go through the real handler logic (src/pipeline/on-push.ts
 * with the central verifier), and the notifications each team would get on
 * SNS are printed. Exits non-zero if any verdict is not the expected one, so
 * CI runs it as a smoke test.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../src/clock.ts';
import { parseIncoming } from '../src/events/envelope.ts';
import { summaryLine } from '../src/notify/stdout.ts';
import { type Notification } from '../src/notify/notification.ts';
import { jsonLogger } from '../src/observability/log.ts';
import { noMetrics } from '../src/observability/metrics.ts';
import { CentralVerifier } from '../src/pipeline/central.ts';
import { handlePushBatch } from '../src/pipeline/on-push.ts';
import { RegistryClient } from '../src/registry/client.ts';
import { OciLayout } from '../src/registry/layout.ts';
import { readConfig } from '../src/store/config-object.ts';
import { loadLocalConfig } from '../src/pipeline/local-config.ts';
import { folderPrefixReader } from '../src/store/folder.ts';
import { GroupPolicies } from '../src/store/group-policies.ts';
import { MemoryIdempotencyStore } from '../src/store/idempotency.ts';
import { writeReportFiles } from '../src/report/outputs.ts';
import { buildPosture } from '../src/report/posture.ts';
import { imageId, type VerdictRecord } from '../src/store/verdicts.ts';
import { generateKeyPair, signatureTag } from '../test/support/cosign.ts';
import { buildSamples, keyPolicyYaml, writeSamplesLayout } from '../test/support/samples.ts';

const PAYMENTS = '111122223333';
const STRANGER = '777788889999';
const REGION = 'eu-west-1';
const REPOSITORY = 'payments/api';
const TOPIC = (name: string) => `arn:aws:sns:${REGION}:999999999999:${name}`;

const CONFIG = `defaults:
  roleName: sigwatch-member
operators:
  topicArn: ${TOPIC('sigwatch-operators')}
groups:
  acme:
    team: platform
    topicArn: ${TOPIC('sigwatch-platform')}
  acme/payments:
    team: payments
    topicArn: ${TOPIC('sigwatch-payments')}
associations:
  - group: acme/payments
    externalId: {inline: demo-external-id}
    accounts:
      - id: "${PAYMENTS}"
        regions: [${REGION}]
# What \`sigwatch invoke --config\` reads on a machine: the folder laid out as the config bucket.
local:
  bucket: ..
`;

/** The demo is an entry point: its one clock is the wall clock. */
const now = systemClock;
const work = mkdtempSync(join(tmpdir(), 'sigwatch-demo-'));
try {
  const key = generateKeyPair();
  const samples = buildSamples({
    dockerReference: `${PAYMENTS}.dkr.ecr.${REGION}.amazonaws.com/${REPOSITORY}`,
    key: key.privateKey,
    otherKey: generateKeyPair().privateKey,
  });
  const layout = join(work, 'layout');
  await writeSamplesLayout(layout, samples);
  // The config bucket's layout: config/sigwatch.yaml and policies/<group>/….
  mkdirSync(join(work, 'config'));
  writeFileSync(join(work, 'config/sigwatch.yaml'), CONFIG);
  mkdirSync(join(work, 'policies/acme'), { recursive: true });
  const policy = keyPolicyYaml('require-release-key', '**', key.publicKeyPem);
  writeFileSync(join(work, 'policies/acme/require-release-key.yaml'), policy);

  const event = (id: string, account: string, digest: string, tag: string) => ({
    version: '0',
    id: `demo-${id}`,
    'detail-type': 'ECR Image Action',
    source: 'aws.ecr',
    account,
    time: new Date(now()).toISOString(),
    region: REGION,
    resources: [],
    detail: {
      result: 'SUCCESS',
      'repository-name': REPOSITORY,
      'action-type': 'PUSH',
      'image-digest': digest,
      'image-tag': tag,
      'manifest-media-type': 'application/vnd.oci.image.manifest.v1+json',
    },
  });
  const signed = samples.find((s) => s.tag === 'signed')!;
  const events = [
    ...samples.map((s) => ({ event: event(s.tag, PAYMENTS, s.image.digest, s.tag), expected: s.expected, what: `push of ${s.tag}: ${s.description}` })),
    {
      event: event('signed-sig', PAYMENTS, signed.signature!.digest, signatureTag(signed.image.digest)),
      expected: 'nothing new',
      what: "push of signed's .sig tag: re-verifies the image, same verdict, not published twice",
    },
    { event: event('stranger', STRANGER, signed.image.digest, 'v1'), expected: 'error', what: 'push in an account no association covers' },
  ];

  console.log('sigwatch demo: the on-push pipeline on sample ECR push events, no AWS, no network.\n');
  console.log(`configuration (config/sigwatch.yaml):\n${CONFIG.replace(/^/gm, '    ')}`);
  console.log(`policy of group acme (policies/acme/require-release-key.yaml):\n${policy.replace(/^/gm, '    ')}`);

  const idempotency = new MemoryIdempotencyStore();
  // Read as `sigwatch invoke --config` reads it: one sigwatch.yaml with its local: section.
  const configFile = join(work, 'config/sigwatch.yaml');
  const { local, sigwatch } = await loadLocalConfig(configFile);
  const loaded = readConfig(sigwatch!, configFile, { allowInlineExternalId: true });
  // The verdict store, in memory: what the posture report at the end reads (DynamoDB when deployed).
  const stored = new Map<string, VerdictRecord>();
  const verdicts = {
    put: async (r: VerdictRecord) => {
      const before = stored.get(imageId(r));
      stored.set(imageId(r), { ...r, since: before && before.verdict === r.verdict ? (before.since ?? before.time) : r.time });
    },
  };
  const verifier = new CentralVerifier({
    config: { load: async () => loaded },
    policies: new GroupPolicies(folderPrefixReader(local.bucket!)),
    registry: new RegistryClient({ now }),
    now,
    // The member account's registry is the layout; nothing leaves the machine.
    localRepository: () => new OciLayout(layout),
  });
  const logs: string[] = [];
  let unexpected = 0;
  for (const { event: e, expected, what } of events) {
    const published: { n: Notification; topic: string }[] = [];
    const { failedMessageIds } = await handlePushBatch(parseIncoming(e), {
      verifier,
      publisher: { publishTo: async (n, topic) => void published.push({ n, topic }) },
      idempotency,
      verdicts,
      graceMs: 0,
      now,
      log: jsonLogger({ write: (l) => void logs.push(l), level: 'warn', now }),
      metrics: noMetrics,
    });
    console.log(`── ${what} (expected: ${expected})`);
    for (const { n, topic } of published) console.log(`   → ${topic.split(':').pop()}: ${summaryLine(n)}`);
    if (published.length === 0) console.log('   (no message)');
    const got = failedMessageIds.length > 0 ? 'failed' : (published[0]?.n.verdict ?? 'nothing new');
    if (got !== expected) {
      unexpected++;
      console.log(`   !! expected ${expected}, got ${got}`);
    }
    console.log();
  }
  const example = events[0]!;
  console.log(`the message the payments team gets for the first push (SNS body, attributes verdict/account/repository/team/policy):`);
  const first = await handlePushBatch(parseIncoming({ ...example.event, id: 'demo-again', detail: { ...example.event.detail, 'image-tag': 'again' } }), {
    verifier,
    publisher: { publishTo: async (n) => void console.log(JSON.stringify(n, null, 2).replace(/^/gm, '    ')) },
    idempotency: new MemoryIdempotencyStore(),
    graceMs: 0,
    now,
    log: jsonLogger({ write: () => {}, now }),
    metrics: noMetrics,
  });
  if (first.failedMessageIds.length > 0) unexpected++;
  for (const line of logs) console.error(line);
  console.log(unexpected === 0 ? '\nevery verdict as expected' : `\n${unexpected} unexpected verdict(s)`);

  // Where the organisation stands: the posture report of the demo's verdicts (`sigwatch report` does the same from the table).
  const report = buildPosture(stored.values(), { directory: loaded.directory, generatedAt: new Date(now()).toISOString() });
  const [html, ...others] = await writeReportFiles(report, join(process.cwd(), '.demo', 'report'));
  const t = report.totals;
  console.log(`\nposture report: ${t.images} images (${t.admit} admit, ${t.deny} deny, ${t.error} error, ${t.warn} warn); also ${others.join(', ')}`);
  console.log(html);
  process.exitCode = unexpected === 0 ? 0 : 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
