import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { beforeEach, describe, it } from 'node:test';
import { AssumeRoleCommand, STSClient, STSServiceException, type AssumeRoleCommandInput, type STSClientConfig } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { stringify } from 'yaml';
import { AccountDirectory } from '../../src/accounts/groups.ts';
import { AssumeRoleError, AwsSessions, REFRESH_BEFORE_EXPIRY_MS, roleSessionName } from '../../src/accounts/sts.ts';
import { configError, parseConfig, type ConfigParseOptions } from '../../src/accounts/config.ts';
import { type AccountConfig, type Association, type SigwatchConfig } from '../../src/accounts/types.ts';
import type { FieldProblem } from '../../src/field-reader.ts';
import { SigwatchError } from '../../src/errors.ts';
import { testNow } from '../support/clock.ts';

type Json = Record<string, unknown>;

const fixtureText = (name: string) => readFileSync(new URL(`../fixtures/accounts/${name}`, import.meta.url), 'utf8');
const SECRET_PAYMENTS = 'arn:aws:secretsmanager:eu-west-1:999999999999:secret:sigwatch/external-id/payments-AbCdEf';
const TOPIC = (name: string) => `arn:aws:sns:eu-west-1:999999999999:${name}`;

function config(text: string, opts?: ConfigParseOptions): SigwatchConfig {
  const result = parseConfig(text, opts);
  assert.ok(result.ok, `expected a configuration, got: ${result.ok ? '' : JSON.stringify(result.problems)}`);
  return result.config;
}

function problems(text: string, opts?: ConfigParseOptions): FieldProblem[] {
  const result = parseConfig(text, opts);
  assert.ok(!result.ok, 'expected problems, got a configuration');
  return result.problems;
}

/** A small valid document, as data, for cases to change one thing in. */
function base(): Json {
  return {
    defaults: { roleName: 'sigwatch-reader' },
    operators: { topicArn: TOPIC('sigwatch-operators') },
    groups: {
      acme: { topicArn: TOPIC('sigwatch-platform') },
      'acme/payments': { team: 'payments' },
    },
    associations: [{ group: 'acme/payments', accounts: [{ id: '111122223333', regions: ['eu-west-1'] }] }],
  };
}

/** `base()` with one change made by `edit`, as YAML text. */
function edited(edit: (doc: Json & { groups: Json; associations: Json[] }) => void): string {
  const doc = base() as Json & { groups: Json; associations: Json[] };
  edit(doc);
  return stringify(doc);
}

const account = (doc: { associations: Json[] }, i = 0, j = 0) => (doc.associations[i]!.accounts as Json[])[j]!;

describe('parseConfig', () => {
  it('reads the acme example with its defaults applied', () => {
    const c = config(fixtureText('acme.yaml'));
    assert.deepEqual(c.defaults, { roleName: 'sigwatch-reader', sessionDurationSeconds: 1800, noMatch: 'deny' });
    assert.deepEqual(c.operators, { topicArn: TOPIC('sigwatch-operators') });
    assert.deepEqual(
      [...c.groups.values()],
      [
        { path: 'acme', team: 'platform', topicArn: TOPIC('sigwatch-platform'), secretsPrefix: 'sigwatch/acme/', policyPrefix: 'policies/acme/' },
        { path: 'acme/payments', team: 'payments', topicArn: TOPIC('sigwatch-payments'), policyPrefix: 'policies/acme/payments/' },
        { path: 'acme/retail', team: 'retail', secretsPrefix: 'sigwatch/retail/', policyPrefix: 'policies/acme/retail/' },
        { path: 'acme/payments/api', policyPrefix: 'policies/acme/payments/api/' },
      ],
    );
    assert.deepEqual(c.associations[0], {
      group: 'acme/payments',
      externalId: { secretArn: SECRET_PAYMENTS },
      accounts: [
        { id: '111122223333', regions: ['eu-west-1', 'eu-central-1'], roleArn: 'arn:aws:iam::111122223333:role/sigwatch-reader' },
        // Unquoted in the file: read as written, leading zero kept.
        { id: '012345678901', regions: ['us-east-1'], roleArn: 'arn:aws:iam::012345678901:role/platform/sigwatch-payments' },
      ],
    });
    assert.deepEqual(c.associations[1]!.repositories, ['api/', 'shared/base']);
    assert.equal(c.associations.length, 3);
  });

  it('defaults the session duration, no-match behaviour, role ARN and policy prefix', () => {
    const c = config(stringify(base()));
    assert.deepEqual(c.defaults, { roleName: 'sigwatch-reader', sessionDurationSeconds: 900, noMatch: 'deny' });
    assert.equal(c.associations[0]!.accounts[0]!.roleArn, 'arn:aws:iam::111122223333:role/sigwatch-reader');
    assert.equal(c.groups.get('acme/payments')!.policyPrefix, 'policies/acme/payments/');
    assert.equal(c.associations[0]!.externalId, undefined);
  });

  it('gives a default role ARN in the partition of the account regions', () => {
    const text = stringify({
      defaults: { roleName: 'sigwatch-reader' },
      operators: { topicArn: 'arn:aws-cn:sns:cn-north-1:999999999999:sigwatch-operators' },
      groups: { acme: { topicArn: 'arn:aws-cn:sns:cn-north-1:999999999999:sigwatch' } },
      associations: [{ group: 'acme', accounts: [{ id: '111122223333', regions: ['cn-north-1', 'cn-northwest-1'] }] }],
    });
    assert.equal(config(text).associations[0]!.accounts[0]!.roleArn, 'arn:aws-cn:iam::111122223333:role/sigwatch-reader');
  });

  it('accepts an inline ExternalId only for a local run, and never quotes it in a problem', () => {
    const text = fixtureText('local.yaml');
    assert.deepEqual(problems(text), [
      { path: 'associations[0].externalId.inline', message: 'an inline ExternalId is for local runs only: keep it in Secrets Manager and give secretArn' },
    ]);
    assert.deepEqual(config(text, { allowInlineExternalId: true }).associations[0]!.externalId, { inline: 'local-external-id-0001' });
    const bad = problems(text.replace('local-external-id-0001', 'local external id'), { allowInlineExternalId: true });
    assert.deepEqual(bad, [{ path: 'associations[0].externalId.inline', message: 'invalid value: an ExternalId is 2 to 1224 letters, digits and +=,.@:/_-' }]);
  });

  it('returns a frozen configuration', () => {
    const c = config(fixtureText('acme.yaml'));
    assert.throws(() => ((c.associations[0]!.accounts[0] as { id: string }).id = '999988887777'), TypeError);
    assert.throws(() => (c.associations[0]!.accounts as AccountConfig[]).push({ id: '999988887777', regions: ['eu-west-1'], roleArn: 'x' }), TypeError);
  });

  const cases: { name: string; text: string; opts?: ConfigParseOptions; expected: FieldProblem[] }[] = [
    {
      name: 'unknown top-level field',
      text: edited((d) => (d.owners = {})),
      expected: [{ path: 'owners', message: 'unknown field (expected defaults, operators, groups, associations)' }],
    },
    {
      name: "a group's secrets prefix that reaches the default ExternalId secrets",
      text: edited((d) => ((d.groups as Json)['acme/payments'] = { team: 'payments', secretsPrefix: 'sigwatch/' })),
      expected: [
        {
          path: 'groups[acme/payments].secretsPrefix',
          message: "sigwatch/ reaches the ExternalId secrets (sigwatch/external-id…): a group's secrets must live apart from them, e.g. under sigwatch/teams/",
        },
      ],
    },
    {
      name: "a group's secrets prefix inside the ExternalId secrets",
      text: edited((d) => ((d.groups as Json)['acme/payments'] = { team: 'payments', secretsPrefix: 'sigwatch/external-id/payments/' })),
      expected: [
        {
          path: 'groups[acme/payments].secretsPrefix',
          message:
            "sigwatch/external-id/payments/ reaches the ExternalId secrets (sigwatch/external-id…): a group's secrets must live apart from them, e.g. under sigwatch/teams/",
        },
      ],
    },
    {
      name: "a group's secrets prefix that reaches an association's own ExternalId secret",
      text: edited((d) => {
        (d.groups as Json).acme = { topicArn: TOPIC('sigwatch-platform'), secretsPrefix: 'teams/' };
        d.associations[0]!.externalId = { secretArn: 'arn:aws:secretsmanager:eu-west-1:999999999999:secret:teams/payments-extid-AbCdEf' };
      }),
      expected: [
        {
          path: 'groups[acme].secretsPrefix',
          message:
            "teams/ reaches the ExternalId secrets (teams/payments-extid-AbCdEf): a group's secrets must live apart from them, e.g. under sigwatch/teams/",
        },
      ],
    },
    {
      name: 'unknown account field',
      text: edited((d) => (account(d).role = 'x')),
      expected: [{ path: 'associations[0].accounts[0].role', message: 'unknown field (expected id, regions, roleArn)' }],
    },
    {
      name: 'account id of 11 digits',
      text: edited((d) => (account(d).id = '11112222333')),
      expected: [
        { path: 'associations[0].accounts[0].id', message: 'invalid value: "11112222333": an AWS account id is 12 digits (quote it if it starts with 0)' },
      ],
    },
    {
      name: 'an account associated twice',
      text: edited((d) => d.associations.push({ group: 'acme', accounts: [{ id: '111122223333', regions: ['eu-west-2'] }] })),
      expected: [{ path: 'associations[1].accounts[0].id', message: 'account 111122223333 is already associated (associations[0].accounts[0])' }],
    },
    {
      name: 'role ARN of another account',
      text: edited((d) => (account(d).roleArn = 'arn:aws:iam::444455556666:role/sigwatch-reader')),
      expected: [{ path: 'associations[0].accounts[0].roleArn', message: 'names account 444455556666, not the associated account 111122223333' }],
    },
    {
      name: 'role ARN in another partition than the account',
      text: edited((d) => (account(d).roleArn = 'arn:aws-cn:iam::111122223333:role/sigwatch-reader')),
      expected: [{ path: 'associations[0].accounts[0].roleArn', message: 'is in partition aws-cn, but sigwatch runs in aws (operators.topicArn)' }],
    },
    {
      name: 'not a role ARN',
      text: edited((d) => (account(d).roleArn = 'arn:aws:iam::111122223333:user/sigwatch')),
      expected: [
        {
          path: 'associations[0].accounts[0].roleArn',
          message: 'invalid value: "arn:aws:iam::111122223333:user/sigwatch": expected an IAM role ARN: arn:aws:iam::ACCOUNT:role/NAME',
        },
      ],
    },
    {
      name: 'malformed region',
      text: edited((d) => (account(d).regions = ['eu-west-1', 'eu-west'])),
      expected: [{ path: 'associations[0].accounts[0].regions[1]', message: 'invalid value: "eu-west": expected an AWS region such as eu-west-1' }],
    },
    {
      name: 'a region listed twice',
      text: edited((d) => (account(d).regions = ['eu-west-1', 'eu-west-1'])),
      expected: [{ path: 'associations[0].accounts[0].regions[1]', message: 'eu-west-1 is listed twice' }],
    },
    {
      name: 'regions in two partitions',
      text: edited((d) => (account(d).regions = ['eu-west-1', 'cn-north-1'])),
      expected: [
        {
          path: 'associations[0].accounts[0].regions',
          message: 'an account lives in one partition; these regions span several (eu-west-1: aws, cn-north-1: aws-cn)',
        },
      ],
    },
    {
      name: 'an account in a partition sigwatch does not run in',
      text: edited((d) => (account(d).regions = ['us-gov-west-1'])),
      expected: [
        {
          path: 'associations[0].accounts[0].regions',
          message: 'in partition aws-us-gov, but sigwatch runs in aws (operators.topicArn): STS cannot assume a role across partitions',
        },
      ],
    },
    {
      name: 'no regions',
      text: edited((d) => (account(d).regions = [])),
      expected: [{ path: 'associations[0].accounts[0].regions', message: 'empty list' }],
    },
    {
      name: 'a group whose parent is not declared',
      text: edited((d) => (d.groups['acme/payments/api/v2'] = {})),
      expected: [{ path: 'groups[acme/payments/api/v2]', message: 'its parent group acme/payments/api is not declared' }],
    },
    {
      name: 'a malformed group path',
      text: edited((d) => (d.groups['acme//x'] = {})),
      expected: [
        {
          path: 'groups[acme//x]',
          message: 'invalid group path: an empty segment (segments are 1 to 64 letters, digits and ._-, starting with a letter or digit, joined by /)',
        },
      ],
    },
    {
      name: 'an association with an unknown group',
      text: edited((d) => (d.associations[0]!.group = 'acme/paymnets')),
      expected: [{ path: 'associations[0].group', message: 'unknown group acme/paymnets (declared: acme, acme/payments)' }],
    },
    {
      name: 'a top-level group without a topic',
      text: edited((d) => (d.groups.acme = { team: 'platform' })),
      expected: [{ path: 'groups[acme].topicArn', message: 'missing field: a top-level group needs a topic (its subgroups inherit it)' }],
    },
    {
      name: 'a topic in another partition',
      text: edited((d) => (d.groups['acme/payments'] = { topicArn: 'arn:aws-cn:sns:cn-north-1:999999999999:payments' })),
      expected: [{ path: 'groups[acme/payments].topicArn', message: 'is in partition aws-cn, but sigwatch runs in aws (operators.topicArn)' }],
    },
    {
      name: 'two groups on one policy prefix',
      text: edited((d) => (d.groups['acme/payments'] = { policyPrefix: 'policies/acme/' })),
      expected: [{ path: 'groups[acme/payments].policyPrefix', message: "policies/acme/ is already groups[acme]'s policy prefix" }],
    },
    {
      name: 'a policy prefix without its trailing slash',
      text: edited((d) => (d.groups['acme/payments'] = { policyPrefix: 'policies/payments' })),
      expected: [
        {
          path: 'groups[acme/payments].policyPrefix',
          message: 'invalid value: "policies/payments": expected a key prefix ending in /, such as policies/acme/',
        },
      ],
    },
    {
      name: 'both ExternalId sources',
      text: edited((d) => (d.associations[0]!.externalId = { secretArn: SECRET_PAYMENTS, inline: 'abc-def' })),
      opts: { allowInlineExternalId: true },
      expected: [{ path: 'associations[0].externalId', message: 'expected exactly one of secretArn and inline, got both' }],
    },
    {
      name: 'an ExternalId secret that is not a secret ARN',
      text: edited((d) => (d.associations[0]!.externalId = { secretArn: 'sigwatch/external-id' })),
      expected: [{ path: 'associations[0].externalId.secretArn', message: 'invalid value: "sigwatch/external-id": expected a Secrets Manager secret ARN' }],
    },
    {
      name: 'a repository pattern',
      text: edited((d) => (d.associations[0]!.repositories = ['payments/*'])),
      expected: [
        {
          path: 'associations[0].repositories[0]',
          message: 'invalid value: "payments/*": patterns are not supported: give an exact repository name, or a prefix ending in /',
        },
      ],
    },
    {
      name: 'a repository name ECR would refuse',
      text: edited((d) => (d.associations[0]!.repositories = ['Payments/API'])),
      expected: [
        {
          path: 'associations[0].repositories[0]',
          message: 'invalid value: "Payments/API": expected an ECR repository name (team/app) or a prefix ending in / (team/)',
        },
      ],
    },
    {
      name: 'a session longer than role chaining allows',
      text: edited((d) => ((d.defaults as Json).sessionDurationSeconds = 7200)),
      expected: [
        {
          path: 'defaults.sessionDurationSeconds',
          message:
            'invalid value: "7200": expected whole seconds from 900 to 3600 (STS allows at most an hour for a role assumed with another role\'s session, as sigwatch\'s are)',
        },
      ],
    },
    {
      name: 'an unknown no-match behaviour',
      text: edited((d) => ((d.defaults as Json).noMatch = 'block')),
      expected: [{ path: 'defaults.noMatch', message: 'invalid value: "block": expected one of deny, allow, warn' }],
    },
    {
      name: 'an empty value',
      text: edited((d) => ((d.groups['acme/payments'] as Json).team = '')),
      expected: [{ path: 'groups[acme/payments].team', message: 'empty value' }],
    },
    {
      name: 'a list where a mapping belongs',
      text: edited((d) => (d.operators = ['x'])),
      expected: [{ path: 'operators', message: 'expected a mapping, got a list' }],
    },
    {
      name: 'every section missing',
      text: 'groups: {}\n',
      expected: [
        { path: 'operators', message: 'missing field' },
        { path: 'defaults', message: 'missing field' },
        { path: 'groups', message: 'declares no group' },
        { path: 'associations', message: 'missing field' },
      ],
    },
    { name: 'an empty document', text: '# nothing yet\n', expected: [{ path: '', message: 'expected a mapping, got nothing' }] },
    {
      name: 'a key given twice',
      text: 'defaults: {roleName: a}\ndefaults: {roleName: b}\n',
      expected: [{ path: '', message: 'YAML: Map keys must be unique at line 2, column 1' }],
    },
  ];
  for (const c of cases) {
    it(`reports ${c.name}`, () => assert.deepEqual(problems(c.text, c.opts), c.expected));
  }

  it('reports every problem of a document at once', () => {
    const text = edited((d) => {
      account(d).id = '1234';
      d.associations[0]!.group = 'nobody';
    });
    assert.deepEqual(
      problems(text).map((p) => p.path),
      ['associations[0].group', 'associations[0].accounts[0].id'],
    );
  });

  it('builds one CONFIG error listing the problems', () => {
    const err = configError('s3://config/sigwatch.yaml', problems(edited((d) => (d.owners = 1))));
    assert.ok(err instanceof SigwatchError);
    assert.equal(err.code, 'CONFIG');
    assert.equal(err.message, 's3://config/sigwatch.yaml: 1 problem: owners: unknown field (expected defaults, operators, groups, associations)');
  });
});

describe('AccountDirectory', () => {
  const directory = new AccountDirectory(config(fixtureText('acme.yaml')));

  it('resolves a group with what it inherits', () => {
    assert.deepEqual(directory.group('acme/payments/api'), {
      path: 'acme/payments/api',
      lineage: ['acme', 'acme/payments', 'acme/payments/api'],
      team: 'payments',
      topicArn: TOPIC('sigwatch-payments'),
      secretsPrefix: 'sigwatch/acme/',
      policyPrefix: 'policies/acme/payments/api/',
    });
    assert.deepEqual(directory.group('acme/retail'), {
      path: 'acme/retail',
      lineage: ['acme', 'acme/retail'],
      team: 'retail',
      topicArn: TOPIC('sigwatch-platform'),
      secretsPrefix: 'sigwatch/retail/',
      policyPrefix: 'policies/acme/retail/',
    });
  });

  it("applies a group's policies and its ancestors', never a sibling's", () => {
    assert.deepEqual(directory.policyPrefixesFor('acme/payments'), ['policies/acme/', 'policies/acme/payments/']);
    assert.deepEqual(directory.policyPrefixesFor('acme/retail'), ['policies/acme/', 'policies/acme/retail/']);
    const applies = (key: string) => ['acme', 'acme/payments', 'acme/payments/api', 'acme/retail'].filter((g) => directory.policyKeyApplies(key, g));
    assert.deepEqual(applies('policies/acme/baseline.yaml'), ['acme', 'acme/payments', 'acme/payments/api', 'acme/retail']);
    assert.deepEqual(applies('policies/acme/payments/signed.yaml'), ['acme/payments', 'acme/payments/api']);
    // Listed under acme's prefix too, but owned by acme/retail.
    assert.deepEqual(applies('policies/acme/retail/keyless.yaml'), ['acme/retail']);
    // Not under acme/payments' folder: a policy of acme's.
    assert.deepEqual(applies('policies/acme/payments-old/x.yaml'), ['acme', 'acme/payments', 'acme/payments/api', 'acme/retail']);
    assert.deepEqual(applies('policies/other/x.yaml'), []);
  });

  it('resolves an associated account in a listed region', () => {
    const r = directory.resolve({ account: '111122223333', region: 'eu-central-1', repository: 'payments/ledger' });
    assert.ok(r.known);
    assert.equal(r.group.path, 'acme/payments');
    assert.equal(r.group.team, 'payments');
    assert.equal(r.account.roleArn, 'arn:aws:iam::111122223333:role/sigwatch-reader');
    assert.equal(r.association.externalId && 'secretArn' in r.association.externalId && r.association.externalId.secretArn, SECRET_PAYMENTS);
  });

  it('calls an unassociated account unknown, with a reason', () => {
    assert.deepEqual(directory.resolve({ account: '999988887777', region: 'eu-west-1', repository: 'payments/ledger' }), {
      known: false,
      kind: 'unknown-account',
      reason: 'account 999988887777 is not associated with any group in the sigwatch configuration',
    });
  });

  it('calls a region the account does not list unknown', () => {
    assert.deepEqual(directory.resolve({ account: '111122223333', region: 'eu-west-2', repository: 'payments/ledger' }), {
      known: false,
      kind: 'unlisted-region',
      reason: 'account 111122223333 is associated with group acme/payments for eu-west-1, eu-central-1, not eu-west-2',
    });
  });

  it('matches repositories by exact name or by prefix ending in /', () => {
    const known = (repository: string) => directory.resolve({ account: '222233334444', region: 'eu-west-1', repository }).known;
    assert.equal(known('api/orders'), true);
    assert.equal(known('api/orders/v2'), true);
    assert.equal(known('shared/base'), true);
    assert.equal(known('apis/orders'), false);
    assert.equal(known('shared/base-old'), false);
    assert.equal(known('shared/base/x'), false);
    assert.deepEqual(directory.resolve({ account: '222233334444', region: 'eu-west-1', repository: 'web/app' }), {
      known: false,
      kind: 'repository-not-included',
      reason: 'repository web/app of account 222233334444 is not among the repositories associated with group acme/payments/api (api/, shared/base)',
    });
  });
});

describe('roleSessionName', () => {
  const DIGEST = 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
  const VALID = /^[\w+=,.@-]{2,64}$/;

  it('names the repository and the digest prefix', () => {
    assert.equal(roleSessionName(`111122223333.dkr.ecr.eu-west-1.amazonaws.com/payments/api@${DIGEST}`), 'sigwatch-payments.api-0123456789ab');
    assert.equal(roleSessionName(`payments/api:1.0@${DIGEST}`), 'sigwatch-payments.api-0123456789ab');
    assert.equal(roleSessionName('localhost:5000/app:latest'), 'sigwatch-app');
  });

  it('cuts a long repository, never the digest, to 64 characters', () => {
    const name = roleSessionName(`111122223333.dkr.ecr.eu-west-1.amazonaws.com/${'team-'.repeat(30)}app@${DIGEST}`);
    assert.equal(name.length, 64);
    assert.match(name, VALID);
    assert.ok(name.startsWith('sigwatch-team-team-') && name.endsWith('-0123456789ab'), name);
  });

  it('falls back to sigwatch-verify', () => {
    assert.equal(roleSessionName(), 'sigwatch-verify');
    assert.equal(roleSessionName(''), 'sigwatch-verify');
    assert.equal(roleSessionName('***'), 'sigwatch-verify');
    assert.match(roleSessionName('a b/c d@sha256:zz'), VALID);
  });
});

describe('AwsSessions', () => {
  const T0 = Date.parse('2026-03-01T12:00:00Z');
  const EXTERNAL_ID = 'ext-4f1d9c2a-payments';
  const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYsecretKEY';
  let now: number;
  let issued: number;
  let secretReads: string[];
  let secretValue: string;
  const client = new STSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDCENTRALFAKE', secretAccessKey: 'central-fake' } });
  const sts = mockClient(client);
  const cfg = config(fixtureText('acme.yaml'));
  const directory = new AccountDirectory(cfg);

  const known = (accountId: string, repository = 'payments/ledger') => {
    const r = directory.resolve({ account: accountId, region: 'eu-west-1', repository });
    assert.ok(r.known, `account ${accountId} should be known`);
    return r;
  };
  const sessions = (opts: { durationSeconds?: number } = {}) =>
    new AwsSessions({
      sts: client,
      sourceIdentity: 'sigwatch',
      externalId: async (arn) => {
        secretReads.push(arn);
        return secretValue;
      },
      durationSeconds: opts.durationSeconds ?? cfg.defaults.sessionDurationSeconds,
      now: () => now,
    });
  /** STS issuing 15-minute credentials, numbered so that a refresh is visible. */
  const issue = (input: AssumeRoleCommandInput) => {
    issued++;
    return {
      Credentials: {
        AccessKeyId: `ASIA${issued}`,
        SecretAccessKey: `${SECRET_KEY}${issued}`,
        SessionToken: `token-${issued}-${input.RoleArn}`,
        Expiration: new Date(now + 15 * 60_000),
      },
    };
  };
  const calls = () => sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input);
  const stsError = (name: string, status: number | undefined, message: string) =>
    new STSServiceException({ name, $fault: 'client', message, $metadata: status === undefined ? {} : { httpStatusCode: status, requestId: 'req-7e1f' } });

  beforeEach(() => {
    sts.reset();
    now = T0;
    issued = 0;
    secretReads = [];
    secretValue = EXTERNAL_ID;
    sts.on(AssumeRoleCommand).callsFake(issue);
  });

  it('sends AssumeRole with the role, ExternalId, SourceIdentity, duration and an image session name', async () => {
    const { association, account } = known('111122223333');
    const creds = await sessions().credentialsFor(association, account, {
      image: `111122223333.dkr.ecr.eu-west-1.amazonaws.com/payments/ledger@sha256:${'ab12'.repeat(16)}`,
    });
    assert.deepEqual(calls(), [
      {
        RoleArn: 'arn:aws:iam::111122223333:role/sigwatch-reader',
        RoleSessionName: 'sigwatch-payments.ledger-ab12ab12ab12',
        DurationSeconds: 1800,
        SourceIdentity: 'sigwatch',
        ExternalId: EXTERNAL_ID,
      },
    ]);
    assert.deepEqual(secretReads, [SECRET_PAYMENTS]);
    assert.deepEqual(creds, {
      accessKeyId: 'ASIA1',
      secretAccessKey: `${SECRET_KEY}1`,
      sessionToken: 'token-1-arn:aws:iam::111122223333:role/sigwatch-reader',
      expiration: new Date(T0 + 15 * 60_000),
    });
    // What SDK clients take as `credentials`.
    const asSdk: STSClientConfig['credentials'] = creds;
    assert.ok(asSdk);
  });

  it('names the session sigwatch-verify without an image, and sends an inline ExternalId as is', async () => {
    const local = config(fixtureText('local.yaml'), { allowInlineExternalId: true });
    const r = new AccountDirectory(local).resolve({ account: '555566667777', region: 'eu-west-1', repository: 'app' });
    assert.ok(r.known);
    await sessions({ durationSeconds: 900 }).credentialsFor(r.association, r.account);
    assert.deepEqual(calls(), [
      {
        RoleArn: 'arn:aws:iam::555566667777:role/sigwatch-reader',
        RoleSessionName: 'sigwatch-verify',
        DurationSeconds: 900,
        SourceIdentity: 'sigwatch',
        ExternalId: 'local-external-id-0001',
      },
    ]);
    assert.deepEqual(secretReads, []);
  });

  it('sends no ExternalId for an association without one', async () => {
    const c = config(stringify(base()));
    const r = new AccountDirectory(c).resolve({ account: '111122223333', region: 'eu-west-1', repository: 'app' });
    assert.ok(r.known);
    await sessions().credentialsFor(r.association, r.account);
    assert.equal(calls()[0]!.ExternalId, undefined);
    assert.ok(!('ExternalId' in calls()[0]!));
  });

  it('reuses credentials until 5 minutes before they expire, then renews them', async () => {
    const s = sessions();
    const { association, account } = known('111122223333');
    assert.equal((await s.credentialsFor(association, account)).accessKeyId, 'ASIA1');
    now = T0 + 15 * 60_000 - REFRESH_BEFORE_EXPIRY_MS - 1;
    assert.equal((await s.credentialsFor(association, account)).accessKeyId, 'ASIA1');
    assert.equal(calls().length, 1);
    now = T0 + 15 * 60_000 - REFRESH_BEFORE_EXPIRY_MS;
    assert.equal((await s.credentialsFor(association, account)).accessKeyId, 'ASIA2');
    assert.equal((await s.credentialsFor(association, account)).accessKeyId, 'ASIA2');
    assert.equal(calls().length, 2);
    // The ExternalId was still fresh (15 minutes): read once.
    assert.deepEqual(secretReads, [SECRET_PAYMENTS]);
  });

  it('keeps one session per account, and reads a shared ExternalId secret once', async () => {
    const s = sessions();
    const a = known('111122223333');
    const b = known('222233334444', 'api/orders');
    const c = known('444455556666');
    const keys = [
      (await s.credentialsFor(a.association, a.account)).accessKeyId,
      (await s.credentialsFor(b.association, b.account)).accessKeyId,
      (await s.credentialsFor(c.association, c.account)).accessKeyId,
      (await s.credentialsFor(a.association, a.account)).accessKeyId,
    ];
    assert.deepEqual(keys, ['ASIA1', 'ASIA2', 'ASIA3', 'ASIA1']);
    assert.deepEqual(
      calls().map((i) => i.RoleArn),
      ['arn:aws:iam::111122223333:role/sigwatch-reader', 'arn:aws:iam::222233334444:role/sigwatch-reader', 'arn:aws:iam::444455556666:role/sigwatch-reader'],
    );
    assert.deepEqual(secretReads, [SECRET_PAYMENTS, 'arn:aws:secretsmanager:eu-west-1:999999999999:secret:sigwatch/external-id/retail-GhIjKl']);
  });

  it('shares one AssumeRole among concurrent callers', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    sts.on(AssumeRoleCommand).callsFake(async (input: AssumeRoleCommandInput) => {
      await gate;
      return issue(input);
    });
    const s = sessions();
    const { association, account } = known('111122223333');
    const all = Promise.all(
      Array.from({ length: 8 }, (_, i) => s.credentialsFor(association, account, { image: `payments/ledger@sha256:${String(i).repeat(64)}` })),
    );
    await new Promise((resolve) => setImmediate(resolve));
    release();
    const results = await all;
    assert.equal(calls().length, 1);
    assert.deepEqual(new Set(results.map((r) => r.accessKeyId)), new Set(['ASIA1']));
    assert.equal(calls()[0]!.RoleSessionName, 'sigwatch-payments.ledger-000000000000');
    assert.deepEqual(secretReads, [SECRET_PAYMENTS]);
  });

  /** The thrown AssumeRoleError, after checking nothing secret is in its message or anywhere on it. */
  async function assumeRoleError(promise: Promise<unknown>): Promise<AssumeRoleError> {
    let caught: unknown;
    await assert.rejects(promise, (err) => ((caught = err), true));
    assert.ok(caught instanceof AssumeRoleError, `expected an AssumeRoleError, got ${String(caught)}`);
    assert.ok(['CONFIG', 'AWS_UNAVAILABLE'].includes(caught.code), caught.code);
    const everything = `${caught.message} ${caught.stack} ${JSON.stringify(caught)} ${String(caught.cause)}`;
    for (const secret of [EXTERNAL_ID, SECRET_KEY, 'ASIA', 'token-', 'AKIDCENTRALFAKE', 'central-fake']) {
      assert.ok(!everything.includes(secret), `the error mentions ${secret}: ${caught.message}`);
    }
    return caught;
  }

  it('turns AccessDenied into a typed error naming the account and role, and caches nothing', async () => {
    // STS quotes what it refuses; nothing of its message may reach ours.
    sts.on(AssumeRoleCommand).rejects(stsError('AccessDenied', 403, `not authorized to perform sts:AssumeRole (ExternalId ${EXTERNAL_ID})`));
    const s = sessions();
    const { association, account } = known('111122223333');
    const err = await assumeRoleError(s.credentialsFor(association, account));
    assert.equal(err.failure, 'access-denied');
    assert.equal(err.code, 'CONFIG');
    assert.equal(err.account, '111122223333');
    assert.equal(err.roleArn, 'arn:aws:iam::111122223333:role/sigwatch-reader');
    assert.equal(
      err.message,
      "account 111122223333: cannot assume arn:aws:iam::111122223333:role/sigwatch-reader: access denied: the role's trust policy must allow this function sts:AssumeRole and sts:SetSourceIdentity, with the association's ExternalId (AccessDenied, HTTP 403, request req-7e1f)",
    );
    // The ExternalId was read during this call: reading it again could not help.
    assert.equal(calls().length, 1);
    await assumeRoleError(s.credentialsFor(association, account));
    assert.equal(calls().length, 2);
  });

  it('turns throttling and outages into AWS_UNAVAILABLE (retried), refusals into CONFIG', async () => {
    const { association, account } = known('111122223333');
    sts.on(AssumeRoleCommand).rejects(stsError('Throttling', 400, `Rate exceeded for ${EXTERNAL_ID}`));
    const throttled = await assumeRoleError(sessions().credentialsFor(association, account));
    assert.equal(throttled.failure, 'throttled');
    assert.equal(throttled.code, 'AWS_UNAVAILABLE');
    assert.equal(
      throttled.message,
      'account 111122223333: cannot assume arn:aws:iam::111122223333:role/sigwatch-reader: STS is throttling requests; retry later (Throttling, HTTP 400, request req-7e1f)',
    );

    sts.on(AssumeRoleCommand).rejects(Object.assign(new Error(`connect ECONNREFUSED ${EXTERNAL_ID}`), { code: 'ECONNREFUSED' }));
    const down = await assumeRoleError(sessions().credentialsFor(association, account));
    assert.equal(down.failure, 'unavailable');
    assert.equal(down.code, 'AWS_UNAVAILABLE');
    assert.match(down.message, /: STS could not be reached; retry later \(ECONNREFUSED\)$/);

    sts.on(AssumeRoleCommand).rejects(stsError('ValidationError', 400, `Value '${EXTERNAL_ID}' at 'externalId' failed to satisfy constraint`));
    const refused = await assumeRoleError(sessions().credentialsFor(association, account));
    assert.equal(refused.failure, 'rejected');
    assert.equal(refused.code, 'CONFIG');
    assert.match(refused.message, /: STS refused the request \(ValidationError, HTTP 400, request req-7e1f\)$/);
  });

  it('re-reads a rotated ExternalId once when the role denies the cached one', async () => {
    const s = sessions();
    const { association, account } = known('111122223333');
    await s.credentialsFor(association, account);
    // The secret rotates and the role's trust policy now accepts only the new value.
    secretValue = 'ext-rotated-0002';
    sts.on(AssumeRoleCommand).callsFake((input: AssumeRoleCommandInput) => {
      if (input.ExternalId !== 'ext-rotated-0002') throw stsError('AccessDenied', 403, 'denied');
      return issue(input);
    });
    now = T0 + 10 * 60_000;
    assert.equal((await s.credentialsFor(association, account)).accessKeyId, 'ASIA2');
    assert.deepEqual(
      calls().map((i) => i.ExternalId),
      [EXTERNAL_ID, EXTERNAL_ID, 'ext-rotated-0002'],
    );
    assert.deepEqual(secretReads, [SECRET_PAYMENTS, SECRET_PAYMENTS]);
  });

  it('does not retry a denial when the re-read ExternalId is unchanged', async () => {
    const s = sessions();
    const { association, account } = known('111122223333');
    await s.credentialsFor(association, account);
    sts.on(AssumeRoleCommand).rejects(stsError('AccessDenied', 403, 'denied'));
    now = T0 + 10 * 60_000;
    const err = await assumeRoleError(s.credentialsFor(association, account));
    assert.equal(err.failure, 'access-denied');
    assert.equal(calls().length, 2);
    assert.deepEqual(secretReads, [SECRET_PAYMENTS, SECRET_PAYMENTS]);
  });

  it('names the secret when the ExternalId cannot be read, and reads it again next time', async () => {
    const s = new AwsSessions({
      sts: client,
      sourceIdentity: 'sigwatch',
      now: () => now,
      externalId: async (arn) => {
        secretReads.push(arn);
        throw Object.assign(new Error(`not authorized (${EXTERNAL_ID})`), {
          name: 'AccessDeniedException',
          $metadata: { httpStatusCode: 400, requestId: 'sm-1' },
        });
      },
    });
    const { association, account } = known('111122223333');
    const err = await assumeRoleError(s.credentialsFor(association, account));
    assert.equal(err.failure, 'access-denied');
    assert.equal(
      err.message,
      `account 111122223333: cannot assume arn:aws:iam::111122223333:role/sigwatch-reader: cannot read its ExternalId from ${SECRET_PAYMENTS}: access to the secret denied (AccessDeniedException, HTTP 400, request sm-1)`,
    );
    await assumeRoleError(s.credentialsFor(association, account));
    assert.equal(secretReads.length, 2);
    assert.equal(calls().length, 0);
  });

  it('reads the ExternalId again after its TTL', async () => {
    const s = sessions();
    const a = known('111122223333');
    const b = known('222233334444', 'api/orders');
    await s.credentialsFor(a.association, a.account);
    now = T0 + 15 * 60_000;
    await s.credentialsFor(b.association, b.account);
    assert.deepEqual(secretReads, [SECRET_PAYMENTS, SECRET_PAYMENTS]);
  });

  it('refuses an ExternalId secret STS would reject, without quoting it or calling STS', async () => {
    secretValue = `${EXTERNAL_ID}\n`;
    const { association, account } = known('111122223333');
    const err = await assumeRoleError(sessions().credentialsFor(association, account));
    assert.equal(err.failure, 'rejected');
    assert.equal(
      err.message,
      `account 111122223333: cannot assume arn:aws:iam::111122223333:role/sigwatch-reader: cannot read its ExternalId from ${SECRET_PAYMENTS}: the secret does not hold an ExternalId STS accepts (2 to 1224 letters, digits and +=,.@:/_-, nothing else, no trailing newline)`,
    );
    assert.equal(calls().length, 0);
  });

  it('never assumes a role for an account the configuration does not associate', async () => {
    const s = sessions();
    const event = { account: '999988887777', region: 'eu-west-1', repository: 'payments/ledger' };
    assert.equal(directory.resolve(event).known, false);
    // A caller that builds the account from the event's claims, or copies a configured one, is refused.
    const real = known('111122223333');
    const forged: AccountConfig = { id: event.account, regions: [event.region], roleArn: `arn:aws:iam::${event.account}:role/sigwatch-reader` };
    const forgedAssociation: Association = { group: 'acme/payments', accounts: [forged], externalId: real.association.externalId! };
    for (const [association, account] of [
      [forgedAssociation, forged],
      [real.association, forged],
      [real.association, { ...real.account }],
    ] as const) {
      await assert.rejects(s.credentialsFor(association, account), (err: unknown) => {
        assert.ok(err instanceof SigwatchError);
        assert.equal(err.code, 'INTERNAL');
        assert.match(err.message, /not an account of the loaded sigwatch configuration; refusing to assume/);
        return true;
      });
    }
    assert.equal(calls().length, 0);
    assert.deepEqual(secretReads, []);
  });

  it('refuses a SourceIdentity STS would reject', () => {
    for (const sourceIdentity of ['s', 'sigwatch on-push', 'x'.repeat(65)]) {
      assert.throws(
        () => new AwsSessions({ sts: client, sourceIdentity, externalId: async () => EXTERNAL_ID, now: testNow }),
        (err: unknown) => err instanceof SigwatchError && err.code === 'CONFIG' && err.message.startsWith('SourceIdentity '),
      );
    }
  });
});
