import { CENTRAL, PAYMENTS } from '../support/accounts.ts';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  intrinsic,
  isObject,
  loadTemplate,
  materialize,
  parameterValues,
  parseTemplate,
  referenceProblems,
  type Inputs,
  type Json,
  type JsonObject,
  type Template,
} from '../support/cloudformation.ts';

const TEMPLATE_URL = new URL('../../infra/member-account.yaml', import.meta.url);
const template = loadTemplate(TEMPLATE_URL);

// Values a real deployment would pass; the assertions derive expectations from
// them rather than from literals in the template.
const CENTRAL_ROLE = 'sigwatch-on-push';
const BUS_ARN = `arn:aws:events:eu-west-1:${CENTRAL}:event-bus/sigwatch`;
const BASE: Inputs = {
  CentralAccountId: CENTRAL,
  CentralRoleName: CENTRAL_ROLE,
  OrganizationId: 'o-abcdefghij',
  ExternalId: 'x'.repeat(40),
  CentralEventBusArn: BUS_ARN,
  RoleRegion: 'eu-west-1',
  'AWS::Region': 'eu-west-1',
  'AWS::AccountId': PAYMENTS,
  'AWS::Partition': 'aws',
};

// The read-only set the member role may use on repositories. The referrers
// API (ListImageReferrers, OCI /referrers) is authorized by ecr:BatchGetImage:
// IAM defines no separate action, so none is listed.
const ECR_READ_ACTIONS = [
  'ecr:BatchCheckLayerAvailability',
  'ecr:BatchGetImage',
  'ecr:DescribeImages',
  'ecr:DescribeRepositories',
  'ecr:GetDownloadUrlForLayer',
  'ecr:ListImages',
];

const asList = (value: Json | undefined): Json[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/**
 * Every shape `node` can take at deploy time: each Fn::If contributes both of
 * its branches, and `Ref AWS::NoValue` removes its key or list item. Used on
 * single statements, so the product stays small.
 */
function variants(node: Json): Json[] {
  if (intrinsic(node, 'Ref') === 'AWS::NoValue') return [];
  const ifArgs = intrinsic(node, 'Fn::If');
  if (Array.isArray(ifArgs) && ifArgs.length === 3) return [...variants(ifArgs[1]!), ...variants(ifArgs[2]!)];
  if (Array.isArray(node)) {
    let out: Json[][] = [[]];
    for (const item of node) {
      const options = variants(item);
      out = options.length === 0 ? out : out.flatMap((prefix) => options.map((o) => [...prefix, o]));
    }
    return out;
  }
  if (isObject(node)) {
    let out: JsonObject[] = [{}];
    for (const [key, value] of Object.entries(node)) {
      const options = variants(value);
      if (options.length === 0) continue;
      out = out.flatMap((prefix) => options.map((o) => ({ ...prefix, [key]: o })));
    }
    return out;
  }
  return [node];
}

interface FoundStatement {
  where: string;
  kind: 'trust' | 'permissions';
  statement: JsonObject;
}

/** Every IAM statement in the template, in every shape its Fn::Ifs allow. */
function statements(t: Template): FoundStatement[] {
  const out: FoundStatement[] = [];
  const fromDocument = (doc: Json | undefined, where: string, kind: FoundStatement['kind']) => {
    for (const d of variants(doc ?? null)) {
      if (!isObject(d)) continue;
      for (const s of asList(d.Statement)) {
        for (const v of variants(s)) if (isObject(v)) out.push({ where, kind, statement: v });
      }
    }
  };
  for (const [name, resource] of Object.entries(t.Resources)) {
    const props = isObject(resource.Properties) ? resource.Properties : {};
    if (resource.Type === 'AWS::IAM::Role') {
      fromDocument(props.AssumeRolePolicyDocument, `${name}.AssumeRolePolicyDocument`, 'trust');
      for (const p of asList(props.Policies)) {
        if (isObject(p)) fromDocument(p.PolicyDocument, `${name}.Policies.${String(p.PolicyName)}`, 'permissions');
      }
    }
    if (['AWS::IAM::RolePolicy', 'AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy'].includes(resource.Type)) {
      fromDocument(props.PolicyDocument, name, 'permissions');
    }
  }
  return out;
}

const actionsOf = (s: JsonObject): string[] => asList(s.Action).map(String);

/** Renders a Fn::Sub string (no local variables) with parameter and pseudo-parameter values. */
function renderSub(value: Json | undefined, inputs: Inputs): string {
  const text = intrinsic(value, 'Fn::Sub');
  assert.equal(typeof text, 'string', `expected a Fn::Sub string, got ${JSON.stringify(value)}`);
  const values = parameterValues(template, inputs);
  return (text as string).replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
    const v = values[name];
    assert.ok(typeof v === 'string', `no value for \${${name}}`);
    return v;
  });
}

function resourcesOfType(t: Template, type: string): [string, JsonObject][] {
  return Object.entries(t.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([name, r]) => [name, isObject(r.Properties) ? r.Properties : {}]);
}

/** The member role: the IAM role whose trust policy names an AWS principal. */
function memberRole(t: Template): [string, JsonObject] {
  const roles = resourcesOfType(t, 'AWS::IAM::Role').filter(([name]) =>
    statements(t).some((s) => s.where.startsWith(`${name}.`) && s.kind === 'trust' && isObject(s.statement.Principal) && 'AWS' in s.statement.Principal),
  );
  assert.equal(roles.length, 1, 'exactly one role trusts an AWS principal');
  return roles[0]!;
}

describe('cloudformation helper', () => {
  it('turns short-form tags into long-form intrinsics', () => {
    const t = parseTemplate(`
Conditions:
  A: !Equals [!Ref P, "x"]
  B: !And [!Condition A, !Not [!Equals [!Join ["", !Ref L], ""]]]
Resources:
  R:
    Type: AWS::X::Y
    Properties:
      a: !GetAtt Other.Endpoint.Address
      b: !Sub "\${AWS::Region}-\${P}"
      c: !Sub ["\${v}", { v: !Ref P }]
      d: !If [A, !Select [0, !Split [",", !Ref P]], !Ref "AWS::NoValue"]
      e: !GetAtt [Other, Arn]
`);
    assert.deepEqual(t.Conditions.A, { 'Fn::Equals': [{ Ref: 'P' }, 'x'] });
    assert.deepEqual(t.Conditions.B, {
      'Fn::And': [{ Condition: 'A' }, { 'Fn::Not': [{ 'Fn::Equals': [{ 'Fn::Join': ['', { Ref: 'L' }] }, ''] }] }],
    });
    assert.deepEqual(t.Resources.R!.Properties, {
      a: { 'Fn::GetAtt': ['Other', 'Endpoint.Address'] },
      b: { 'Fn::Sub': '${AWS::Region}-${P}' },
      c: { 'Fn::Sub': ['${v}', { v: { Ref: 'P' } }] },
      d: { 'Fn::If': ['A', { 'Fn::Select': [0, { 'Fn::Split': [',', { Ref: 'P' }] }] }, { Ref: 'AWS::NoValue' }] },
      e: { 'Fn::GetAtt': ['Other', 'Arn'] },
    });
  });

  it('refuses unknown tags and misplaced ones instead of dropping them', () => {
    assert.throws(() => parseTemplate('Resources:\n  R:\n    Type: T\n    Properties: { a: !Reff X }\n'), /does not parse/);
    assert.throws(() => parseTemplate('Resources:\n  R:\n    Type: T\n    Properties: { a: !Ref [X] }\n'), /does not parse/);
  });

  it('the linter reports dangling references, and only those', () => {
    const broken = parseTemplate(`
Parameters:
  P: { Type: String }
Conditions:
  C: !Equals [!Ref P, "x"]
  D: !Equals [!Ref R, "x"]
  E: !Not [!Condition Missing]
Resources:
  R:
    Type: AWS::X::Y
    Condition: Nope
    DependsOn: Ghost
    Properties:
      ok1: !Ref P
      ok2: !Ref R
      ok3: !Sub "\${AWS::AccountId}:\${P}:\${R.Arn}:\${!Literal}"
      ok4: !Sub ["\${local}", { local: !Ref P }]
      ok5: !If [C, !GetAtt R.Arn, !Ref "AWS::NoValue"]
      bad1: !Ref Q
      bad2: !GetAtt S.Arn
      bad3: !Sub "\${Z}"
      bad4: !If [Undefined, a, b]
Outputs:
  O: { Value: !Ref Missing2, Condition: C }
`);
    const problems = referenceProblems(broken);
    const expected = [
      /^Conditions\.D\b.*Ref R\b/, // conditions may not Ref resources
      /^Conditions\.E\b.*"Missing"/,
      /^Resources\.R\.Condition\b.*"Nope"/,
      /^Resources\.R\.DependsOn\b.*"Ghost"/,
      /\.bad1\b.*Ref Q\b/,
      /\.bad2\b.*GetAtt/,
      /\.bad3 \$\{Z\}/,
      /\.bad4\b.*"Undefined"/,
      /^Outputs\.O\.Value\b.*Missing2/,
    ];
    for (const re of expected)
      assert.ok(
        problems.some((p) => re.test(p)),
        `expected a problem matching ${re}; got:\n${problems.join('\n')}`,
      );
    assert.equal(problems.length, expected.length, problems.join('\n'));
  });
});

describe('infra/member-account.yaml', () => {
  it('every Ref, GetAtt, Sub variable and condition it uses exists', () => {
    assert.deepEqual(referenceProblems(template), []);
  });

  it('takes the documented parameters, with ExternalId hidden', () => {
    for (const name of [
      'CentralAccountId',
      'CentralRoleName',
      'OrganizationId',
      'ExternalId',
      'RoleName',
      'CentralEventBusArn',
      'EnableKmsRead',
      'MaxSessionDuration',
    ]) {
      assert.ok(template.Parameters[name], `parameter ${name}`);
    }
    assert.equal(template.Parameters.ExternalId!.NoEcho, true);
    // The rotation-time second value is as sensitive as the first.
    assert.equal(template.Parameters.PreviousExternalId!.NoEcho, true);
    assert.equal(template.Parameters.RoleName!.Default, 'sigwatch-member');
    assert.equal(Number(template.Parameters.MaxSessionDuration!.Default), 3600);
    assert.deepEqual(template.Parameters.EnableKmsRead!.AllowedValues, ['true', 'false']);
  });

  it('no parameter pattern accepts what STS or IAM would refuse', () => {
    const accepts = (name: string, value: string) => new RegExp(String(template.Parameters[name]!.AllowedPattern)).test(value);
    assert.ok(accepts('CentralAccountId', CENTRAL));
    assert.ok(!accepts('CentralAccountId', '99999999999'));
    assert.ok(accepts('OrganizationId', 'o-abcdefghij'));
    assert.ok(accepts('ExternalId', 'aB3+=,.@:/_-'));
    assert.ok(!accepts('ExternalId', 'has space'));
    assert.ok(accepts('PreviousExternalId', ''));
    assert.ok(accepts('CentralEventBusArn', BUS_ARN));
    assert.ok(!accepts('CentralEventBusArn', `arn:aws:sns:eu-west-1:${CENTRAL}:topic`));
  });

  describe('member role trust policy', () => {
    const [roleName, role] = memberRole(template);
    const trust = statements(template).filter((s) => s.where === `${roleName}.AssumeRolePolicyDocument`);
    const centralRoleArn = `arn:aws:iam::${CENTRAL}:role/${CENTRAL_ROLE}`;

    it('trusts exactly the central functions role: no account root, no wildcard, no service', () => {
      assert.ok(trust.length > 0);
      for (const { statement } of trust) {
        assert.equal(statement.Effect, 'Allow');
        assert.ok(isObject(statement.Principal));
        assert.deepEqual(Object.keys(statement.Principal), ['AWS'], 'only an AWS principal');
        const principals = asList(statement.Principal.AWS);
        assert.equal(principals.length, 1, 'one principal');
        const arn = renderSub(principals[0], BASE);
        assert.equal(arn, centralRoleArn);
        assert.doesNotMatch(arn, /:root$|\*/);
        assert.equal(statement.NotPrincipal, undefined);
      }
    });

    it("AssumeRole requires the ExternalId, the organization and sigwatch's SourceIdentity", () => {
      const assume = trust.filter((s) => actionsOf(s.statement).includes('sts:AssumeRole'));
      assert.ok(assume.length > 0);
      for (const { statement } of assume) {
        assert.deepEqual(actionsOf(statement), ['sts:AssumeRole'], 'AssumeRole on its own statement');
        const eq = isObject(statement.Condition) ? statement.Condition.StringEquals : undefined;
        assert.ok(isObject(eq), 'a StringEquals block');
        const externalIds = asList(eq['sts:ExternalId']);
        assert.ok(externalIds.length >= 1 && externalIds.length <= 2);
        assert.deepEqual(externalIds[0], { Ref: 'ExternalId' });
        if (externalIds.length === 2) assert.deepEqual(externalIds[1], { Ref: 'PreviousExternalId' });
        assert.deepEqual(eq['aws:PrincipalOrgID'], { Ref: 'OrganizationId' });
        assert.deepEqual(eq['sts:SourceIdentity'], { Ref: 'SourceIdentity' });
      }
    });

    it('accepts the previous ExternalId only while rotating', () => {
      const externalIdsFor = (inputs: Inputs) => {
        const t = materialize(template, inputs);
        const s = statements(t).filter((f) => f.kind === 'trust' && actionsOf(f.statement).includes('sts:AssumeRole') && f.where.startsWith(roleName));
        assert.equal(s.length, 1);
        return asList(((s[0]!.statement.Condition as JsonObject).StringEquals as JsonObject)['sts:ExternalId']);
      };
      assert.deepEqual(externalIdsFor(BASE), [{ Ref: 'ExternalId' }]);
      assert.deepEqual(externalIdsFor({ ...BASE, PreviousExternalId: 'y'.repeat(40) }), [{ Ref: 'ExternalId' }, { Ref: 'PreviousExternalId' }]);
    });

    it("allows sts:SetSourceIdentity for the same principal, organization-bound, with sigwatch's value only", () => {
      const set = trust.filter((s) => actionsOf(s.statement).includes('sts:SetSourceIdentity'));
      assert.ok(set.length > 0);
      for (const { statement } of set) {
        const eq = (statement.Condition as JsonObject).StringEquals as JsonObject;
        assert.deepEqual(eq['aws:PrincipalOrgID'], { Ref: 'OrganizationId' });
        assert.deepEqual(eq['sts:SourceIdentity'], { Ref: 'SourceIdentity' });
      }
      assert.equal(parameterValues(template, BASE).SourceIdentity, 'sigwatch');
    });

    it('trust actions are AssumeRole and SetSourceIdentity, nothing else (no TagSession, no web identity)', () => {
      assert.deepEqual([...new Set(trust.flatMap((s) => actionsOf(s.statement)))].sort(), ['sts:AssumeRole', 'sts:SetSourceIdentity']);
    });

    it('has short sessions by default', () => {
      assert.deepEqual(role.MaxSessionDuration, { Ref: 'MaxSessionDuration' });
      assert.deepEqual(role.RoleName, { Ref: 'RoleName' });
    });
  });

  describe('permissions', () => {
    const all = statements(template);
    const perms = all.filter((s) => s.kind === 'permissions');

    it('no Action is "*" or a service wildcard, and nothing uses NotAction or NotResource', () => {
      assert.ok(all.length > 0);
      for (const { where, statement } of all) {
        for (const action of actionsOf(statement)) assert.doesNotMatch(action, /\*/, `${where}: ${action}`);
        assert.equal(statement.NotAction, undefined, where);
        assert.equal(statement.NotResource, undefined, where);
        assert.equal(statement.NotPrincipal, undefined, where);
      }
      // Belt and braces: no Action key anywhere in the raw template holds a '*'.
      const walk = (node: Json, path: string): void => {
        if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${path}[${i}]`));
        else if (isObject(node)) {
          for (const [k, v] of Object.entries(node)) {
            if (k === 'Action' || k === 'NotAction') assert.doesNotMatch(JSON.stringify(v), /\*/, `${path}.${k}`);
            walk(v, `${path}.${k}`);
          }
        }
      };
      walk(template.Resources as unknown as Json, 'Resources');
    });

    it('only allows, never relies on a Deny that a later edit could drop silently', () => {
      for (const { where, statement } of all) assert.equal(statement.Effect, 'Allow', where);
    });

    it('Resource "*" appears only with ecr:GetAuthorizationToken, which has no resource-level permission', () => {
      const star = perms.filter((s) => asList(s.statement.Resource).some((r) => typeof r === 'string' && r.includes('*') && !r.startsWith('arn:')));
      assert.ok(star.length > 0, 'the login statement is there');
      for (const { where, statement } of star) {
        assert.deepEqual(asList(statement.Resource), ['*'], where);
        assert.deepEqual(actionsOf(statement), ['ecr:GetAuthorizationToken'], where);
      }
      // And GetAuthorizationToken is never bundled with anything else.
      for (const { where, statement } of perms) {
        if (actionsOf(statement).includes('ecr:GetAuthorizationToken')) assert.deepEqual(actionsOf(statement), ['ecr:GetAuthorizationToken'], where);
      }
    });

    it("the ECR actions are exactly the read-only list, on this account's repositories", () => {
      const ecr = perms.filter((s) => actionsOf(s.statement).some((a) => a.startsWith('ecr:')));
      const actions = new Set(ecr.flatMap((s) => actionsOf(s.statement)));
      assert.deepEqual([...actions].sort(), ['ecr:GetAuthorizationToken', ...ECR_READ_ACTIONS].sort());
      const reads = ecr.filter((s) => !actionsOf(s.statement).includes('ecr:GetAuthorizationToken'));
      for (const { where, statement } of reads) {
        const resources = asList(statement.Resource);
        assert.equal(resources.length, 1, where);
        const listing = actionsOf(statement).includes('ecr:DescribeRepositories');
        // Listing names stays account-wide (re-verification filters the list itself); reads follow RepositoryPrefix.
        if (listing) assert.deepEqual(actionsOf(statement), ['ecr:DescribeRepositories'], where);
        assert.equal(renderSub(resources[0], BASE), `arn:aws:ecr:*:${PAYMENTS}:repository/*`, where);
        assert.equal(
          renderSub(resources[0], { ...BASE, RepositoryPrefix: 'payments/' }),
          `arn:aws:ecr:*:${PAYMENTS}:repository/${listing ? '' : 'payments/'}*`,
          where,
        );
      }
    });

    it("narrows ECR reads to the association's regions when Regions is given, and to none otherwise", () => {
      const reads = perms.filter((s) => actionsOf(s.statement).some((a) => a.startsWith('ecr:') && a !== 'ecr:GetAuthorizationToken'));
      assert.equal(reads.length, 2);
      for (const { where, statement } of reads) assert.deepEqual(statement.Condition, { StringEquals: { 'aws:RequestedRegion': { Ref: 'Regions' } } }, where);
      // … and only with HasRegions: the raw statements hold the condition under Fn::If, with no condition otherwise.
      const raw = JSON.stringify(template.Resources);
      const guarded = JSON.stringify({ 'Fn::If': ['HasRegions', { StringEquals: { 'aws:RequestedRegion': { Ref: 'Regions' } } }, { Ref: 'AWS::NoValue' }] });
      assert.equal(raw.split(guarded).length - 1, 2);
      assert.deepEqual(template.Conditions.HasRegions, { 'Fn::Not': [{ 'Fn::Equals': [{ 'Fn::Join': ['', { Ref: 'Regions' }] }, ''] }] });
      const accepts = (value: string) => new RegExp(String(template.Parameters.RepositoryPrefix!.AllowedPattern)).test(value);
      assert.deepEqual(['', 'payments/', 'acme/payments/', 'payments', '../', 'Pay/', 'a//'].map(accepts), [true, true, true, false, false, false, false]);
    });

    it('the member role can do nothing but read ECR and (optionally) KMS public keys and its own Security Hub findings', () => {
      const [roleName] = memberRole(template);
      const kmsPolicies = resourcesOfType(template, 'AWS::IAM::RolePolicy').filter(([, p]) => JSON.stringify(p.RoleName) === JSON.stringify({ Ref: roleName }));
      const mine = perms.filter((s) => s.where.startsWith(`${roleName}.`) || kmsPolicies.some(([n]) => s.where === n));
      const actions = new Set(mine.flatMap((s) => actionsOf(s.statement)));
      const hub = ['securityhub:BatchImportFindings', 'securityhub:BatchUpdateFindings', 'securityhub:GetFindings'];
      assert.deepEqual([...actions].sort(), ['ecr:GetAuthorizationToken', ...ECR_READ_ACTIONS, 'kms:GetPublicKey', ...hub].sort());
    });

    it("Security Hub access exists only with EnableSecurityHub=true: imports into this account's own product, reads and resolves on its hub", () => {
      const hubStatements = (inputs: Inputs) =>
        statements(materialize(template, inputs)).filter((s) => actionsOf(s.statement).some((a) => a.startsWith('securityhub:')));
      assert.deepEqual(hubStatements(BASE), [], 'off by default');
      const on = hubStatements({ ...BASE, EnableSecurityHub: 'true' });
      assert.equal(on.length, 2);
      const imports = on.find((s) => actionsOf(s.statement).includes('securityhub:BatchImportFindings'))!.statement;
      assert.deepEqual(actionsOf(imports), ['securityhub:BatchImportFindings']);
      assert.equal(renderSub(imports.Resource, BASE), `arn:aws:securityhub:*:${PAYMENTS}:product/${PAYMENTS}/default`);
      const rest = on.find((s) => actionsOf(s.statement).includes('securityhub:GetFindings'))!.statement;
      assert.deepEqual([...actionsOf(rest)].sort(), ['securityhub:BatchUpdateFindings', 'securityhub:GetFindings']);
      assert.equal(renderSub(rest.Resource, BASE), `arn:aws:securityhub:*:${PAYMENTS}:hub/default`);
    });

    it('KMS access exists only with EnableKmsRead=true, is GetPublicKey only, and is scoped', () => {
      const kmsStatements = (inputs: Inputs) =>
        statements(materialize(template, inputs)).filter((s) => actionsOf(s.statement).some((a) => a.startsWith('kms:')));
      assert.deepEqual(kmsStatements(BASE), [], 'off by default');
      assert.deepEqual(kmsStatements({ ...BASE, EnableKmsRead: 'false' }), []);

      const tagged = kmsStatements({ ...BASE, EnableKmsRead: 'true' });
      assert.equal(tagged.length, 1);
      const t = tagged[0]!.statement;
      assert.deepEqual(actionsOf(t), ['kms:GetPublicKey']);
      assert.equal(renderSub(t.Resource, BASE), `arn:aws:kms:*:${PAYMENTS}:key/*`);
      assert.ok(isObject(t.Condition), 'keys opted in by tag');
      const eq = t.Condition.StringEquals;
      assert.ok(isObject(eq) && Object.keys(eq).every((k) => k.startsWith('aws:ResourceTag/')), JSON.stringify(t.Condition));

      const keyArn = `arn:aws:kms:eu-west-1:${PAYMENTS}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
      const listed = kmsStatements({ ...BASE, EnableKmsRead: 'true', KmsKeyArns: keyArn });
      assert.equal(listed.length, 1);
      assert.deepEqual(actionsOf(listed[0]!.statement), ['kms:GetPublicKey']);
      assert.deepEqual(listed[0]!.statement.Resource, { Ref: 'KmsKeyArns' });
    });

    it('every ECR API sigwatch calls in member accounts is allowed (ListImageReferrers through ecr:BatchGetImage)', () => {
      // The ECR commands the code sends, found in the sources rather than listed
      // here, so that a new call fails this test until the member role allows it.
      const used = new Set<string>();
      for (const file of sourceFiles(new URL('../../src/', import.meta.url).pathname)) {
        const text = readFileSync(file, 'utf8');
        for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-ecr'/g)) {
          for (const name of m[1]!.split(',').map((n) => n.trim().replace(/^type\s+/, ''))) {
            const command = /^(\w+)Command$/.exec(name);
            if (command) used.add(command[1]!);
          }
        }
      }
      assert.ok(used.has('GetAuthorizationToken'), `found ${[...used].join(', ')}`);
      // The OCI registry API (manifests, blobs, referrers) is authorized as these actions.
      const registryApi = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'];
      // ListImageReferrers has no IAM action of its own: AWS authorizes it as ecr:BatchGetImage.
      const authorizedAs: Record<string, string> = { ListImageReferrers: 'ecr:BatchGetImage' };
      const allowed = new Set(perms.flatMap((s) => actionsOf(s.statement)));
      for (const action of [...[...used].map((c) => authorizedAs[c] ?? `ecr:${c}`), ...registryApi]) assert.ok(allowed.has(action), `${action} is not allowed`);
    });
  });

  describe('deployable as a service-managed StackSet', () => {
    it('no transform, nested stack or custom resource: nothing that needs more than CloudFormation in each account', () => {
      assert.equal((template as JsonObject).Transform, undefined);
      for (const [name, r] of Object.entries(template.Resources)) {
        assert.ok(!/^(Custom::|AWS::CloudFormation::(Stack|CustomResource|Macro)$|AWS::Lambda::|AWS::Serverless::)/.test(r.Type), `${name}: ${r.Type}`);
      }
    });

    it('no literal partition, account or region: the same template works in every account and region of the OU', () => {
      const text = JSON.stringify({ Resources: template.Resources, Outputs: template.Outputs });
      assert.doesNotMatch(text, /arn:aws[:-]/, 'ARNs use ${AWS::Partition}');
      assert.doesNotMatch(text, /\b\d{12}\b/, 'account ids come from parameters');
      assert.doesNotMatch(text, /\b[a-z]{2}-(north|south|east|west|central|northeast|southeast)-\d\b/, 'regions come from parameters');
    });
  });

  describe('regions', () => {
    it('creates the account-wide role only in RoleRegion, and the forwarding rule in every region', () => {
      const here = materialize(template, BASE);
      const elsewhere = materialize(template, { ...BASE, 'AWS::Region': 'us-east-1', EnableKmsRead: 'true' });
      const [roleName] = memberRole(template);
      assert.ok(here.Resources[roleName]);
      assert.equal(elsewhere.Resources[roleName], undefined);
      // Nothing else in another region may point at the absent role.
      assert.deepEqual(
        referenceProblems(elsewhere).filter((p) => p.includes(roleName)),
        [],
      );
      assert.ok(!JSON.stringify(elsewhere.Resources).includes(`"${roleName}"`), 'no resource references the role outside RoleRegion');
      for (const t of [here, elsewhere]) assert.equal(resourcesOfType(t, 'AWS::Events::Rule').length, 1);
    });

    it('no named IAM resource exists outside RoleRegion (names are account-wide)', () => {
      const elsewhere = materialize(template, { ...BASE, 'AWS::Region': 'us-east-1' });
      for (const [name, props] of resourcesOfType(elsewhere, 'AWS::IAM::Role')) assert.equal(props.RoleName, undefined, name);
    });
  });

  describe('ECR event forwarding', () => {
    const rules = resourcesOfType(template, 'AWS::Events::Rule');

    it('matches successful ECR image, referrer, pull-through cache and replication actions', () => {
      assert.equal(rules.length, 1);
      const [, rule] = rules[0]!;
      assert.equal(rule.EventBusName, undefined, 'ECR emits on the default bus');
      assert.equal(rule.State, 'ENABLED');
      assert.deepEqual(rule.EventPattern, {
        source: ['aws.ecr'],
        'detail-type': ['ECR Image Action', 'ECR Referrer Action', 'ECR Pull Through Cache Action', 'ECR Replication Action'],
        detail: { $or: [{ result: ['SUCCESS'] }, { 'sync-status': ['SUCCESS'] }] },
      });
    });

    it('targets the central bus through a role that may only PutEvents there', () => {
      const [, rule] = rules[0]!;
      const targets = asList(rule.Targets);
      assert.equal(targets.length, 1);
      const target = targets[0] as JsonObject;
      assert.deepEqual(target.Arn, { Ref: 'CentralEventBusArn' });
      const roleRef = intrinsic(target.RoleArn, 'Fn::GetAtt');
      assert.ok(Array.isArray(roleRef) && roleRef[1] === 'Arn', 'RoleArn is a role of this template');
      const roleName = String(roleRef[0]);
      assert.equal(template.Resources[roleName]?.Type, 'AWS::IAM::Role');

      const own = statements(template).filter((s) => s.where.startsWith(`${roleName}.`));
      const perms = own.filter((s) => s.kind === 'permissions');
      assert.deepEqual(
        perms.map((s) => [actionsOf(s.statement), s.statement.Resource]),
        [[['events:PutEvents'], { Ref: 'CentralEventBusArn' }]],
      );
      const trust = own.filter((s) => s.kind === 'trust');
      assert.equal(trust.length, 1);
      const t = trust[0]!.statement;
      assert.deepEqual(t.Principal, { Service: 'events.amazonaws.com' });
      assert.deepEqual(actionsOf(t), ['sts:AssumeRole']);
      // Confused deputy: EventBridge may use the role for this account's rule only.
      const eq = (t.Condition as JsonObject).StringEquals as JsonObject;
      assert.deepEqual(eq['aws:SourceAccount'], { Ref: 'AWS::AccountId' });
      const ruleArn = `arn:aws:events:${String(BASE['AWS::Region'])}:${PAYMENTS}:rule/${renderSub(rule.Name, BASE)}`;
      assert.equal(renderSub(eq['aws:SourceArn'], BASE), ruleArn);
    });
  });

  describe('outputs', () => {
    it('outputs the member role ARN, the same in every region', () => {
      const [roleName] = memberRole(template);
      const expected = `arn:aws:iam::${PAYMENTS}:role/${String(parameterValues(template, BASE).RoleName)}`;
      const here = materialize(template, BASE).Outputs;
      const out = Object.values(here).find((o) => JSON.stringify(o.Value) === JSON.stringify({ 'Fn::GetAtt': [roleName, 'Arn'] }));
      assert.ok(out, 'an output is the role ARN in RoleRegion');
      const outputName = Object.keys(here).find((k) => here[k] === out)!;
      const elsewhere = materialize(template, { ...BASE, 'AWS::Region': 'us-east-1' }).Outputs;
      assert.equal(renderSub(elsewhere[outputName]!.Value, { ...BASE, 'AWS::Region': 'us-east-1' }), expected);
    });

    it('outputs the forwarding rule ARN', () => {
      const [ruleName] = resourcesOfType(template, 'AWS::Events::Rule')[0]!;
      assert.ok(Object.values(template.Outputs).some((o) => JSON.stringify(o.Value) === JSON.stringify({ 'Fn::GetAtt': [ruleName, 'Arn'] })));
    });
  });

  it('every resource and every policy statement is commented (why it exists)', () => {
    // Cheap check: the line before each resource's logical id, and before
    // each statement's Sid, is a comment (or a comment block ends there).
    const lines = readLines();
    const commentedAbove = (index: number) => {
      for (let i = index - 1; i >= 0; i--) {
        const line = lines[i]!.trim();
        if (line.startsWith('#')) return true;
        if (line !== '') return false;
      }
      return false;
    };
    for (const name of Object.keys(template.Resources)) {
      const i = lines.findIndex((l) => l === `  ${name}:`);
      assert.ok(i > 0 && commentedAbove(i), `resource ${name} has a comment`);
    }
    lines.forEach((line, i) => {
      if (/^\s*- Sid: /.test(line)) assert.ok(commentedAbove(i), `statement at line ${i + 1} has a comment`);
    });
  });
});

function readLines(): string[] {
  return readFileSync(TEMPLATE_URL, 'utf8').split('\n');
}

/** Every .ts file under `dir`. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}
