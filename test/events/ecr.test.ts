import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { MAX_BODY_BYTES, parseIncoming, parseSqsBatch } from '../../src/events/envelope.ts';
import { parseEcrEvent, signatureSubject } from '../../src/events/ecr.ts';
import { type ParsedEvent, type PushEvent } from '../../src/events/types.ts';
import { awsSample, awsSampleText, sampleWith, shapeOf } from '../support/aws-samples.ts';

type Json = Record<string, unknown>;

function fixtureText(name: string): string {
  return readFileSync(new URL(`../fixtures/events/${name}`, import.meta.url), 'utf8');
}

/** A fresh copy each time, so a case can mutate it. */
function fixture(name: string): Json {
  return JSON.parse(fixtureText(name)) as Json;
}

function event(parsed: ParsedEvent): PushEvent {
  assert.ok(parsed.ok, `expected an event, got: ${parsed.ok ? '' : parsed.reason}`);
  return parsed.event;
}

function rejection(parsed: ParsedEvent): string {
  assert.ok(!parsed.ok, 'expected a rejection, got an event');
  assert.equal(parsed.ignored, false, `expected a rejection, got ignored: ${parsed.reason}`);
  return parsed.reason;
}

/** The push fixture with one field set (undefined deletes it); path segments split on '.'. */
function pushWith(path: string, value: unknown): Json {
  const e = fixture('image-push.json');
  const keys = path.split('.');
  const last = keys.pop()!;
  let target: Json = e;
  for (const k of keys) target = target[k] as Json;
  if (value === undefined) delete target[last];
  else target[last] = value;
  return e;
}

const IMG = 'sha256:0a69ffe5cf4f5e5f60f7b3a5a3f1336e934be7fb86fd534a54e7f1e7c0b5515a';

describe('ECR EventBridge events', () => {
  it('reads a tagged PUSH', () => {
    assert.deepEqual(event(parseEcrEvent(fixture('image-push.json'))), {
      kind: 'image',
      action: 'PUSH',
      account: '123456789012',
      region: 'us-west-2',
      repository: 'team-a/web',
      digest: IMG,
      tag: 'v1.4.2',
      manifestMediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      artifactMediaType: 'application/vnd.docker.container.image.v1+json',
      eventId: '13cde686-328b-6117-af20-0e5566167482',
      time: '2025-03-11T09:14:27Z',
      registry: '123456789012.dkr.ecr.us-west-2.amazonaws.com',
      imageReference: `123456789012.dkr.ecr.us-west-2.amazonaws.com/team-a/web@${IMG}`,
    });
  });

  it('reads a PUSH by digest: an empty image-tag means no tag', () => {
    const e = event(parseEcrEvent(fixture('image-push-untagged.json')));
    assert.equal('tag' in e, false);
    assert.equal(e.manifestMediaType, 'application/vnd.oci.image.manifest.v1+json');
  });

  it('reads a DELETE without media types', () => {
    const e = event(parseEcrEvent(fixture('image-delete.json')));
    assert.equal(e.action, 'DELETE');
    assert.equal(e.tag, 'v1.4.2');
    assert.equal('manifestMediaType' in e, false);
    assert.equal('artifactMediaType' in e, false);
  });

  it('reads an ECR Referrer Action as kind referrer', () => {
    const e = event(parseEcrEvent(fixture('referrer-push.json')));
    assert.equal(e.kind, 'referrer');
    assert.equal(e.artifactMediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.equal(e.registry, '123456789012.dkr.ecr.us-east-1.amazonaws.com');
  });

  it('uses the .amazonaws.com.cn registry host in China regions', () => {
    const e = event(parseEcrEvent(fixture('image-push-cn.json')));
    assert.equal(e.registry, '210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn');
    assert.equal(e.imageReference, `210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn/platform/base-images/alpine@${e.digest}`);
    assert.equal(event(parseEcrEvent(pushWith('region', 'us-gov-west-1'))).registry, '123456789012.dkr.ecr.us-gov-west-1.amazonaws.com');
  });

  it('ignores a FAILURE push (no digest needed) and an archive/restore action', () => {
    const failure = parseEcrEvent(fixture('image-push-failure.json'));
    assert.ok(!failure.ok && failure.ignored);
    assert.match(failure.reason, /detail\.result "FAILURE"/);
    const restore = parseEcrEvent(fixture('referrer-restore.json'));
    assert.ok(!restore.ok && restore.ignored);
    assert.match(restore.reason, /detail\.action-type "UPDATE_STORAGE_CLASS"/);
  });

  it('accepts the time forms EventBridge and AWS samples use', () => {
    for (const time of ['2025-10-10T19:13:02.74Z', '2024-02-29T00:00:00Z', '2025-03-11T09:14:27.123456+01:00']) {
      assert.equal(event(parseEcrEvent(pushWith('time', time))).time, time);
    }
  });

  it("rejects AWS's own documentation sample: its digest has 60 hex digits", () => {
    assert.match(rejection(parseEcrEvent(fixture('aws-docs-sample-push.json'))), /^detail\.image-digest: expected sha256:<64 lowercase hex>/);
  });

  it('finds the subject of a cosign tag-based signature', () => {
    const e = event(parseEcrEvent(fixture('cosign-signature-push.json')));
    assert.deepEqual(signatureSubject(e), { digest: IMG, kind: 'sig' });
    for (const kind of ['att', 'sbom'] as const) {
      assert.deepEqual(signatureSubject({ ...e, tag: `${IMG.replace(':', '-')}.${kind}` }), { digest: IMG, kind });
    }
    assert.equal(signatureSubject(event(parseEcrEvent(fixture('image-push.json')))), undefined);
    assert.equal(signatureSubject({ ...e, tag: undefined }), undefined);
    assert.equal(signatureSubject({ ...e, tag: 'sha256-abc.sig' }), undefined);
  });

  describe('rejects malformed events, naming the field', () => {
    const huge = 'a'.repeat(1_000_000);
    const cases: [name: string, input: unknown, field: string][] = [
      ['null', null, 'event'],
      ['an array', [fixture('image-push.json')], 'event'],
      ['a string', 'ECR Image Action', 'event'],
      ['missing source', pushWith('source', undefined), 'source'],
      ['wrong source', pushWith('source', 'aws.s3'), 'source'],
      ['source of another type', pushWith('source', ['aws.ecr']), 'source'],
      ['unsupported detail-type', pushWith('detail-type', 'ECR Image Teleport'), 'detail-type'],
      ['detail-type as a number', pushWith('detail-type', 7), 'detail-type'],
      ['detail-type from Object.prototype', pushWith('detail-type', 'constructor'), 'detail-type'],
      ['missing id', pushWith('id', undefined), 'id'],
      ['id with spaces', pushWith('id', 'a b'), 'id'],
      ['time not ISO', pushWith('time', 'yesterday'), 'time'],
      ['time on a day that does not exist', pushWith('time', '2023-02-29T02:36:48Z'), 'time'],
      ['account of 11 digits', pushWith('account', '12345678901'), 'account'],
      ['account as a number', pushWith('account', 123456789012), 'account'],
      ['region in upper case', pushWith('region', 'US-WEST-2'), 'region'],
      ['region of an ISO partition', pushWith('region', 'us-iso-east-1'), 'region'],
      ['missing region', pushWith('region', undefined), 'region'],
      ['missing detail', pushWith('detail', undefined), 'detail'],
      ['detail as an array', pushWith('detail', []), 'detail'],
      ['detail as a JSON string', pushWith('detail', '{"result":"SUCCESS"}'), 'detail'],
      ['missing result', pushWith('detail.result', undefined), 'detail.result'],
      ['result as a boolean', pushWith('detail.result', true), 'detail.result'],
      ['missing action-type', pushWith('detail.action-type', undefined), 'detail.action-type'],
      ['action-type null', pushWith('detail.action-type', null), 'detail.action-type'],
      ['missing repository-name', pushWith('detail.repository-name', undefined), 'detail.repository-name'],
      ['repository-name in upper case', pushWith('detail.repository-name', 'Team-A/web'), 'detail.repository-name'],
      ['repository-name with an empty component', pushWith('detail.repository-name', 'team-a//web'), 'detail.repository-name'],
      ['repository-name over 256 characters', pushWith('detail.repository-name', 'a'.repeat(257)), 'detail.repository-name'],
      ['repository-name of 1 MB', pushWith('detail.repository-name', huge), 'detail.repository-name'],
      ['repository-name as nested garbage', pushWith('detail.repository-name', { a: [{ b: { c: [[[huge]]] } }] }), 'detail.repository-name'],
      ['missing image-digest', pushWith('detail.image-digest', undefined), 'detail.image-digest'],
      ['image-digest without algorithm', pushWith('detail.image-digest', IMG.slice(7)), 'detail.image-digest'],
      ['image-digest in upper case hex', pushWith('detail.image-digest', IMG.toUpperCase().replace('SHA256', 'sha256')), 'detail.image-digest'],
      ['image-digest sha512', pushWith('detail.image-digest', `sha512:${'ab'.repeat(64)}`), 'detail.image-digest'],
      ['image-tag starting with a dot', pushWith('detail.image-tag', '.hidden'), 'detail.image-tag'],
      ['image-tag of 129 characters', pushWith('detail.image-tag', 'v'.repeat(129)), 'detail.image-tag'],
      ['image-tag as a number', pushWith('detail.image-tag', 42), 'detail.image-tag'],
      ['manifest-media-type with spaces', pushWith('detail.manifest-media-type', 'not a media type'), 'detail.manifest-media-type'],
      ['artifact-media-type as an object', pushWith('detail.artifact-media-type', { type: 'x' }), 'detail.artifact-media-type'],
    ];
    for (const [name, input, field] of cases) {
      it(name, () => {
        const reason = rejection(parseEcrEvent(input));
        assert.ok(reason.startsWith(`${field}: `), `reason should start with "${field}: ", got: ${reason}`);
        assert.ok(reason.length < 300, `reason should stay short, got ${reason.length} chars`);
      });
    }
  });

  it('quotes a bad value truncated, with its length', () => {
    const reason = rejection(parseEcrEvent(pushWith('detail.repository-name', 'x'.repeat(1_000_000))));
    assert.match(reason, /"x{80}"… \(1000000 chars\)$/);
  });
});

describe('SQS and EventBridge envelopes', () => {
  it('gives 3 events and 2 rejections for a batch with 2 bad records, by messageId', () => {
    const { records, batchError } = parseSqsBatch(fixture('sqs-batch.json'));
    assert.equal(batchError, undefined);
    const good = records.filter((r) => r.parsed.ok).map((r) => r.messageId);
    const bad = records.filter((r) => !r.parsed.ok).map((r) => ({ id: r.messageId, reason: r.parsed.ok ? '' : r.parsed.reason }));
    assert.deepEqual(good, ['059f36b4-87a3-44ab-83d2-661975830a7d', '7d5c1a2b-3e4f-4a6b-8c9d-0e1f2a3b4c5d', 'c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f']);
    assert.deepEqual(
      bad.map((b) => b.id),
      ['2e1424d4-f796-459a-8184-9c92662be6da', '9a8b7c6d-5e4f-4321-8fed-cba987654321'],
    );
    assert.match(bad[0]!.reason, /^Records\[1\]\.body: not JSON/);
    assert.match(bad[1]!.reason, /^detail\.image-digest: /);
    assert.deepEqual(
      records.map((r) => r.receiveCount),
      [1, 3, 1, 2, 1],
    );
  });

  it('rejects bad records one by one and keeps the rest', () => {
    const good = fixtureText('image-push.json');
    const deep = '['.repeat(50_000) + ']'.repeat(50_000);
    const batch = {
      Records: [
        null,
        { body: good },
        { messageId: 'm-body-missing' },
        { messageId: 'm-body-object', body: JSON.parse(good) },
        { messageId: 'm-huge', body: JSON.stringify({ pad: 'x'.repeat(MAX_BODY_BYTES) }) },
        { messageId: 'm-deep', body: deep },
        { messageId: 'm-null', body: 'null' },
        { messageId: 'm-array', body: '[]' },
        { messageId: 'm-s3', eventSource: 'aws:s3', body: good },
        { messageId: 'm-good', body: good, attributes: { ApproximateReceiveCount: 'many' } },
        {
          messageId: 'm-throws',
          get body(): string {
            throw new Error('getter exploded');
          },
        },
      ],
    };
    const records = parseSqsBatch(batch).records;
    const reasons = records.map((r) => (r.parsed.ok ? 'ok' : r.parsed.reason));
    assert.equal(records.length, 11);
    assert.match(reasons[0]!, /^Records\[0\]: expected an SQS record object, got null/);
    assert.equal(records[1]!.messageId, '');
    assert.match(reasons[1]!, /^Records\[1\]\.messageId: /);
    assert.match(reasons[2]!, /^Records\[2\]\.body: missing/);
    assert.match(reasons[3]!, /^Records\[3\]\.body: expected a string, got an object/);
    assert.match(reasons[4]!, /^Records\[4\]\.body: \d+ bytes, over the 262144-byte limit/);
    assert.match(reasons[5]!, /^Records\[5\]\.body: JSON nested deeper than 32 levels/);
    assert.match(reasons[6]!, /^event: expected an object, got null/);
    assert.match(reasons[7]!, /^event: expected an object, got an array/);
    assert.match(reasons[8]!, /^Records\[8\]\.eventSource: expected "aws:sqs"/);
    assert.equal(reasons[9], 'ok');
    assert.equal(records[9]!.receiveCount, undefined);
    assert.match(reasons[10]!, /^Records\[10\]: unexpected error reading the record: getter exploded/);
    assert.ok(reasons.every((r) => r.length < 300));
  });

  it('reports input that is not a batch as a batch error', () => {
    assert.match(parseSqsBatch(null).batchError!, /^event: expected an SQS batch object, got null/);
    assert.match(parseSqsBatch({ Records: 'x' }).batchError!, /^Records: expected an array/);
    assert.match(parseSqsBatch({ Records: new Array(10_001).fill(null) }).batchError!, /10001 records/);
    assert.deepEqual(parseSqsBatch({ Records: [] }), { records: [] });
  });

  it('parseIncoming takes an SQS batch, a bare EventBridge event, or the JSON text of either', () => {
    const sqs = parseIncoming(fixture('sqs-batch.json'));
    assert.equal(sqs.source, 'sqs');
    assert.equal(sqs.records.filter((r) => r.parsed.ok).length, 3);

    const bare = parseIncoming(fixture('image-push.json'));
    assert.equal(bare.source, 'eventbridge');
    assert.equal(bare.records.length, 1);
    assert.equal(bare.records[0]!.messageId, undefined);
    assert.equal(event(bare.records[0]!.parsed).digest, IMG);

    const fromFile = parseIncoming(fixtureText('sqs-batch.json'));
    assert.equal(fromFile.source, 'sqs');
    assert.deepEqual(fromFile.records, sqs.records);
    assert.equal(parseIncoming(fixtureText('image-push-cn.json')).source, 'eventbridge');

    const other = parseIncoming({ hello: 'world' });
    assert.equal(other.source, 'eventbridge');
    assert.match(rejection(other.records[0]!.parsed), /^source: missing/);
  });

  it('parseIncoming reports unusable input as a batch error', () => {
    for (const [input, pattern] of [
      ['{"Records": [', /^input: not JSON/],
      ['[1, 2]', /^input: expected an EventBridge event or an SQS batch, got an array/],
      [42, /^input: expected an EventBridge event or an SQS batch, got number 42/],
      ['{'.repeat(100), /^input: JSON nested deeper than 32 levels/],
    ] as const) {
      const result = parseIncoming(input);
      assert.equal(result.source, 'invalid');
      assert.deepEqual(result.records, []);
      assert.match(result.batchError!, pattern);
    }
  });
});

describe('ECR events AWS documents for images that arrive other than by a push', () => {
  const values = {
    id: 'evt-arrival',
    account: '111122223333',
    region: 'eu-west-1',
    time: '2026-11-23T10:00:00Z',
    repository: 'docker-hub/alpine',
    digest: IMG,
    tag: '3.17.2',
  };

  it('reads the pull-through cache sample as printed only as far as it is valid: not JSON, then no such day', () => {
    assert.match(parseIncoming(awsSampleText('pull-through-cache')).batchError ?? '', /^input: not JSON/);
    assert.match(rejection(parseEcrEvent(awsSample('pull-through-cache'))), /^time: expected an ISO 8601 time/);
  });

  it('gives a pull-through cache action of that shape a verdict like a push (its digest, its tag)', () => {
    const e = sampleWith('pull-through-cache', values);
    assert.deepEqual(shapeOf(e), shapeOf(awsSample('pull-through-cache')));
    assert.deepEqual(event(parseEcrEvent(e)), {
      kind: 'image',
      action: 'PUSH',
      arrival: 'pull-through-cache',
      account: '111122223333',
      region: 'eu-west-1',
      repository: 'docker-hub/alpine',
      digest: IMG,
      tag: '3.17.2',
      eventId: 'evt-arrival',
      time: '2026-11-23T10:00:00Z',
      registry: '111122223333.dkr.ecr.eu-west-1.amazonaws.com',
      imageReference: `111122223333.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/alpine@${IMG}`,
    });
  });

  it('reads a pull-through cache action that names its tag alone (the digest is resolved later), never one that names neither', () => {
    const e = sampleWith('pull-through-cache', values);
    delete (e.detail as Json)['image-digest'];
    const read = event(parseEcrEvent(e));
    assert.equal(read.digest, undefined);
    assert.equal(read.imageReference, '111122223333.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/alpine:3.17.2');
    delete (e.detail as Json)['image-tag'];
    assert.equal(rejection(parseEcrEvent(e)), 'detail.image-digest: missing');
    // A push without its digest is still malformed.
    assert.equal(rejection(parseEcrEvent(pushWith('detail.image-digest', undefined))), 'detail.image-digest: missing');
  });

  it('ignores a pull-through cache action whose sync did not succeed', () => {
    const e = sampleWith('pull-through-cache', values);
    (e.detail as Json)['sync-status'] = 'FAILED';
    const parsed = parseEcrEvent(e);
    assert.ok(!parsed.ok && parsed.ignored, 'ignored');
    assert.match(parsed.reason, /detail\.sync-status "FAILED"/);
  });

  it('rejects the replication sample as printed for its 60-digit digest, and reads one of its shape in the destination account and region', () => {
    assert.match(rejection(parseEcrEvent(awsSample('replication'))), /^detail\.image-digest: expected sha256:<64 lowercase hex>/);
    const e = sampleWith('replication', { ...values, account: '444455556666', region: 'us-east-1' });
    assert.deepEqual(shapeOf(e), shapeOf(awsSample('replication')));
    const read = event(parseEcrEvent(e));
    assert.equal(read.arrival, 'replication');
    assert.equal(read.registry, '444455556666.dkr.ecr.us-east-1.amazonaws.com');
    assert.equal(read.imageReference, `444455556666.dkr.ecr.us-east-1.amazonaws.com/docker-hub/alpine@${IMG}`);
    assert.equal(read.tag, '3.17.2');
  });

  it('ignores the failed replication sample, and scan events, with a reason; never a rejection', () => {
    for (const name of ['replication-failed', 'image-scan', 'scan-resource-change'] as const) {
      const parsed = parseEcrEvent(awsSample(name));
      assert.ok(!parsed.ok && parsed.ignored, `${name}: ${parsed.ok ? 'accepted' : parsed.reason}`);
    }
    const failed = parseEcrEvent(awsSample('replication-failed'));
    assert.match(failed.ok ? '' : failed.reason, /^ECR Replication Action with detail\.result "FAILED"/);
    const scan = parseEcrEvent(awsSample('image-scan'));
    assert.equal(scan.ok ? '' : scan.reason, 'ECR Image Scan: an ECR event about no new image, nothing to verify');
  });
});
