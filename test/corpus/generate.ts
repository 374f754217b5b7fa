/**
 * Writes the hostile-input corpus: one JSON file per case under
 * `test/corpus/<kind>/`, each with `why` (the attack), the input, and
 * `expect` (what sigwatch must answer). The files are the corpus; this script
 * only saves writing 200 of them by hand and is kept so that the cases can be
 * read as a list. Run: `node test/corpus/generate.ts` (rewrites every file).
 *
 * Inputs that depend on keys made at test time use placeholders the tests
 * fill in: $IMAGE_DIGEST, $IMAGE_HEX, $OTHER_DIGEST, $KEY_PEM, $SIGNATURE…
 * Very large inputs are described by `padTo`/`repeat` rather than stored.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const cases = new Map<string, Map<string, Record<string, unknown>>>();

function add(kind: string, name: string, body: Record<string, unknown>): void {
  let forKind = cases.get(kind);
  if (!forKind) cases.set(kind, (forKind = new Map()));
  if (forKind.has(name)) throw new Error(`duplicate case ${kind}/${name}`);
  forKind.set(name, body);
}

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
/** Expanded by the loader: keeps multi-megabyte inputs out of the repository. */
const rep = (times: number, content: string) => `$REPEAT(${times})${content}$END`;
// `$LADDER(n)$END` (expanded by the loader too) is n lines of block mappings, each one space deeper.
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// ---------------------------------------------------------------------------
// events: text given to parseIncoming (a bare EventBridge event or an SQS batch)

const HEX = 'a'.repeat(64);
const baseEvent = () => ({
  version: '0',
  id: 'evt-corpus-0001',
  'detail-type': 'ECR Image Action',
  source: 'aws.ecr',
  account: '111122223333',
  time: '2026-11-23T10:00:00Z',
  region: 'eu-west-1',
  resources: [],
  detail: {
    result: 'SUCCESS',
    'repository-name': 'team/app',
    'image-digest': `sha256:${HEX}`,
    'action-type': 'PUSH',
    'image-tag': 'v1',
    'manifest-media-type': 'application/vnd.oci.image.manifest.v1+json',
  } as Record<string, unknown>,
});
type Ev = ReturnType<typeof baseEvent> & Record<string, unknown>;

function event(name: string, why: string, mutate: (e: Ev) => void, reason: string, outcome = 'rejected'): void {
  const e = baseEvent() as Ev;
  mutate(e);
  add('events', name, { why, text: JSON.stringify(e), expect: { outcome, reason } });
}
function eventText(name: string, why: string, text: string, reason: string, outcome = 'batch-error'): void {
  add('events', name, { why, text, expect: { outcome, reason } });
}
const sqs = (body: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ Records: [{ messageId: 'm-1', body: typeof body === 'string' ? body : JSON.stringify(body), eventSource: 'aws:sqs', ...extra }] });

const TOP_FIELDS = ['source', 'detail-type', 'id', 'time', 'account', 'region'];
const DETAIL_FIELDS = ['result', 'action-type', 'repository-name', 'image-digest'];
for (const f of [...TOP_FIELDS, 'detail']) {
  event(`missing-${f}`, `required field ${f} absent`, (e) => delete e[f], `^${esc(f)}: missing$`);
}
for (const f of DETAIL_FIELDS) {
  event(`missing-detail-${f}`, `required field detail.${f} absent`, (e) => delete e.detail[f], `^detail\\.${esc(f)}: missing$`);
}
const WRONG: [string, unknown, string][] = [
  ['number', 42, 'number 42'],
  ['array', ['aws.ecr'], 'an array'],
  ['object', { value: 'aws.ecr' }, 'an object'],
  ['boolean', true, 'boolean true'],
  ['null', null, 'null'],
];
for (const f of TOP_FIELDS) {
  for (const [t, v, d] of WRONG) event(`type-${f}-${t}`, `${f} is ${t} instead of a string`, (e) => (e[f] = v), `^${esc(f)}: expected a string, got ${esc(d)}$`);
}
for (const f of [...DETAIL_FIELDS, 'image-tag', 'manifest-media-type', 'artifact-media-type']) {
  for (const [t, v, d] of WRONG.slice(0, 4)) {
    event(`type-detail-${f}-${t}`, `detail.${f} is ${t} instead of a string`, (e) => (e.detail[f] = v), `^detail\\.${esc(f)}: expected a string, got ${esc(d)}$`);
  }
}
for (const [t, v, d] of WRONG.slice(0, 3)) {
  event(`type-detail-${t}`, `detail is ${t === 'object' ? 'a string' : t}`, (e) => ((e as Record<string, unknown>).detail = t === 'object' ? 'detail' : v), `^detail: expected an object, got ${esc(t === 'object' ? '"detail"' : d)}$`);
}
const BAD_DIGESTS: [string, string][] = [
  ['short', `sha256:${'a'.repeat(63)}`],
  ['long', `sha256:${'a'.repeat(65)}`],
  ['uppercase', `sha256:${'A'.repeat(64)}`],
  ['sha512', `sha512:${'a'.repeat(128)}`],
  ['md5', 'md5:d41d8cd98f00b204e9800998ecf8427e'],
  ['no-algorithm', 'a'.repeat(64)],
  ['trailing-newline', `sha256:${'a'.repeat(64)}\n`],
  ['leading-space', ` sha256:${'a'.repeat(64)}`],
  ['fullwidth-digits', `sha256:${'１'.repeat(64)}`],
  ['zero-width-space', `sha256:${'a'.repeat(32)}\u200b${'a'.repeat(32)}`],
  ['dash-separator', `sha256-${'a'.repeat(64)}`],
  ['empty', ''],
  ['non-hex', `sha256:${'g'.repeat(64)}`],
];
for (const [n, d] of BAD_DIGESTS) {
  event(`digest-${n}`, `image-digest ${n}`, (e) => (e.detail['image-digest'] = d), n === 'empty' ? '^detail\\.image-digest: expected sha256' : '^detail\\.image-digest: expected sha256:<64 lowercase hex>, got ');
}
const BAD_REPOS: [string, string][] = [
  ['cyrillic-a', 'team/\u0430pp'],
  ['rtl-override', 'team/app\u202egpj'],
  ['zero-width-joiner', 'team/a\u200dpp'],
  ['nul-byte', 'team/app\u0000evil'],
  ['combining-accent', 'team/app\u0301'],
  ['fullwidth-slash', 'team\uff0fapp'],
  ['path-traversal', 'team/../admin'],
  ['url-encoded-traversal', 'team/%2e%2e/admin'],
  ['uppercase', 'Team/App'],
  ['leading-slash', '/team/app'],
  ['trailing-slash', 'team/app/'],
  ['double-slash', 'team//app'],
  ['one-char', 'a'],
  ['newline-injection', 'team/app\nINFO admitted'],
  ['257-chars', `team/${'a'.repeat(252)}`],
  ['with-tag', 'team/app:latest'],
  ['emoji', 'team/\u{1F600}'],
];
for (const [n, r] of BAD_REPOS) event(`repository-${n}`, `repository-name ${n}`, (e) => (e.detail['repository-name'] = r), '^detail\\.repository-name: expected ');
event('repository-huge', 'a 100 000-character repository name', (e) => (e.detail['repository-name'] = rep(100_000, 'a')), '^detail\\.repository-name: expected 2–256 characters, got "a{80}"… \\(100000 chars\\)$');
const BAD_TAGS: [string, string][] = [
  ['slash', 'v1/evil'],
  ['leading-dot', '.hidden'],
  ['leading-dash', '-v1'],
  ['129-chars', 'a'.repeat(129)],
  ['space', 'v 1'],
  ['unicode', 'v1\u2024'],
  ['colon', 'v1:2'],
];
for (const [n, t] of BAD_TAGS) event(`tag-${n}`, `image-tag ${n}`, (e) => (e.detail['image-tag'] = t), '^detail\\.image-tag: expected an OCI tag');
const BAD_ACCOUNTS: [string, string][] = [
  ['11-digits', '11112222333'],
  ['13-digits', '1111222233334'],
  ['dashes', '1111-2222-3333'],
  ['arabic-indic-digits', '\u0661\u0661\u0661\u0661\u0662\u0662\u0662\u0662\u0663\u0663\u0663\u0663'],
  ['letters', 'aws-account1'],
  ['trailing-newline', '111122223333\n'],
];
for (const [n, a] of BAD_ACCOUNTS) event(`account-${n}`, `account ${n}`, (e) => (e.account = a), '^account: expected a 12-digit AWS account id');
const BAD_REGIONS: [string, string][] = [
  ['iso-partition', 'us-iso-east-1'],
  ['cyrillic', 'eu-w\u0435st-1'],
  ['host-injection', 'eu-west-1.evil.example'],
  ['empty', ''],
  ['uppercase', 'EU-WEST-1'],
];
for (const [n, r] of BAD_REGIONS) event(`region-${n}`, `region ${n}`, (e) => (e.region = r), '^region: expected an AWS region');
const BAD_TIMES: [string, string][] = [
  ['feb-29-2023', '2023-02-29T00:00:00Z'],
  ['hour-25', '2026-11-23T25:00:00Z'],
  ['words', 'yesterday'],
  ['epoch', '1700000000'],
  ['no-zone', '2026-11-23T10:00:00'],
];
for (const [n, t] of BAD_TIMES) event(`time-${n}`, `time ${n}`, (e) => (e.time = t), '^time: expected an ISO 8601 time');
event('source-spoofed', 'source claims another service', (e) => (e.source = 'aws.s3'), '^source: expected "aws\\.ecr", got "aws\\.s3"$');
event('source-trailing-space', 'source with a trailing space', (e) => (e.source = 'aws.ecr '), '^source: expected "aws\\.ecr"');
event('detail-type-unknown', 'an event type sigwatch does not read', (e) => (e['detail-type'] = 'ECR Image Scan'), '^detail-type: unsupported detail-type "ECR Image Scan"');
event('id-injection', 'an event id carrying a log line', (e) => (e.id = 'evt\nADMIT everything'), '^id: expected an EventBridge event id');
event('id-huge', 'a 10 000-character event id', (e) => (e.id = rep(10_000, 'e')), '^id: expected an EventBridge event id, got "e{80}"… \\(10000 chars\\)$');
event('proto-pollution-detail', 'detail given only through __proto__', (e) => {
  (e as Record<string, unknown>).detail = undefined;
}, '^detail: missing$');
add('events', 'proto-key-source', {
  why: 'source only in an inherited __proto__ key, which JSON.parse makes an own property named __proto__',
  text: JSON.stringify({ ...baseEvent(), source: undefined }).replace('{', '{"__proto__":{"source":"aws.ecr"},'),
  expect: { outcome: 'rejected', reason: '^source: missing$' },
});
add('events', 'constructor-key-detail', {
  why: 'detail hidden behind a "constructor" key',
  text: JSON.stringify({ ...baseEvent(), detail: undefined, constructor: { detail: baseEvent().detail } }),
  expect: { outcome: 'rejected', reason: '^detail: missing$' },
});
eventText('text-truncated', 'JSON cut off mid-way', JSON.stringify(baseEvent()).slice(0, 120), '^input: not JSON');
eventText('text-empty', 'an empty file', '', '^input: not JSON');
eventText('text-null', 'the JSON value null', 'null', '^input: expected an EventBridge event or an SQS batch, got null$');
eventText('text-array', 'a JSON array of events', JSON.stringify([baseEvent()]), '^input: expected an EventBridge event or an SQS batch, got an array$');
eventText('text-number', 'a bare number', '42', '^input: expected an EventBridge event or an SQS batch, got number 42$');
eventText('text-trailing-garbage', 'a valid event followed by garbage', `${JSON.stringify(baseEvent())} ADMIT`, '^input: not JSON');
eventText('text-comments', 'JSON with comments', `// event\n${JSON.stringify(baseEvent())}`, '^input: not JSON');
eventText('text-nan', 'NaN where JSON has none', JSON.stringify(baseEvent()).replace('"0"', 'NaN'), '^input: not JSON');
eventText('text-bom', 'a UTF-8 byte-order mark before the JSON', `\ufeff${JSON.stringify(baseEvent())}`, '^input: not JSON');
eventText('deep-array-10000', 'arrays nested 10 000 deep', `${rep(10_000, '[')}${rep(10_000, ']')}`, '^input: JSON nested deeper than 32 levels$');
eventText('deep-object-5000', 'detail nested 5 000 objects deep', `{"detail":${rep(5_000, '{"a":')}1${rep(5_000, '}')}}`, '^input: JSON nested deeper than 32 levels$');
eventText('deep-in-string-ok-then-bad', 'brackets inside strings do not count, real ones do', `{"id":"${'['.repeat(100)}","x":${'['.repeat(40)}${']'.repeat(40)}}`, '^input: JSON nested deeper than 32 levels$');
// SQS envelopes
eventText('sqs-records-object', 'Records is an object', JSON.stringify({ Records: { 0: {} } }), '^Records: expected an array, got an object$');
eventText('sqs-too-many-records', '10 001 records, over the Lambda batch limit', `{"Records":[${rep(10_000, '0,')}0]}`, '^Records: 10001 records, over');
eventText('sqs-record-string', 'a record that is a string', JSON.stringify({ Records: ['m-1'] }), '^Records\\[0\\]: expected an SQS record object, got "m-1"$', 'rejected');
eventText('sqs-no-message-id', 'a record without messageId', JSON.stringify({ Records: [{ body: JSON.stringify(baseEvent()) }] }), '^Records\\[0\\]\\.messageId: expected an SQS message id, got undefined$', 'rejected');
eventText('sqs-message-id-spaces', 'a messageId with spaces and a newline', JSON.stringify({ Records: [{ messageId: 'm 1\nx', body: JSON.stringify(baseEvent()) }] }), '^Records\\[0\\]\\.messageId: expected an SQS message id', 'rejected');
eventText('sqs-message-id-huge', 'a 1 000-character messageId', JSON.stringify({ Records: [{ messageId: rep(1000, 'm'), body: '{}' }] }), '^Records\\[0\\]\\.messageId: expected an SQS message id, got "m{80}"… \\(1000 chars\\)$', 'rejected');
eventText('sqs-event-source', 'a record from another event source', sqs(baseEvent(), { eventSource: 'aws:kinesis' }), '^Records\\[0\\]\\.eventSource: expected "aws:sqs", got "aws:kinesis"$', 'rejected');
eventText('sqs-body-object', 'body already parsed (an object)', JSON.stringify({ Records: [{ messageId: 'm-1', body: baseEvent() }] }), '^Records\\[0\\]\\.body: expected a string, got an object$', 'rejected');
eventText('sqs-body-missing', 'no body', JSON.stringify({ Records: [{ messageId: 'm-1' }] }), '^Records\\[0\\]\\.body: missing$', 'rejected');
eventText('sqs-body-truncated', 'body JSON cut off', sqs(JSON.stringify(baseEvent()).slice(0, 50)), '^Records\\[0\\]\\.body: not JSON', 'rejected');
eventText('sqs-body-deep', 'body nested 1 000 deep', sqs(`${rep(1000, '[')}${rep(1000, ']')}`), '^Records\\[0\\]\\.body: JSON nested deeper than 32 levels$', 'rejected');
eventText('sqs-body-huge', 'a 300 KB body, over the SQS message limit', sqs(JSON.stringify({ ...baseEvent(), pad: rep(300 * 1024, 'x') })), '^Records\\[0\\]\\.body: \\d+ bytes, over the 262144-byte limit$', 'rejected');
eventText('sqs-body-bad-event', 'a well-formed record whose event has a bad digest', sqs({ ...baseEvent(), detail: { ...baseEvent().detail, 'image-digest': 'sha256:evil' } }), '^detail\\.image-digest: expected sha256', 'rejected');
eventText('sqs-body-unicode-repo', 'an SQS record whose repository uses a Cyrillic letter', sqs({ ...baseEvent(), detail: { ...baseEvent().detail, 'repository-name': 'te\u0430m/app' } }), '^detail\\.repository-name: expected lowercase', 'rejected');

// ---------------------------------------------------------------------------
// policies: YAML given to parsePolicyDocuments

const KEY_PEM_BLOCK = '      data: |\n        $KEY_PEM_INDENTED\n';
const policy = (spec: string, meta = '  name: corpus') => `apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n${meta}\nspec:\n${spec}`;
const keyAuthority = `  authorities:\n  - key:\n${KEY_PEM_BLOCK}`;
const keyless = (identity: string) => `  images:\n  - glob: "**"\n  authorities:\n  - keyless:\n      url: https://fulcio.example.com\n      identities:\n      - ${identity}\n`;

function policyError(name: string, why: string, yaml: string, message: string, extra: Record<string, unknown> = {}): void {
  add('policies', name, { why, yaml, ...extra, expect: { outcome: 'error', message } });
}
function policyBounded(name: string, why: string, yaml: string, check: Record<string, unknown>): void {
  add('policies', name, { why, yaml, expect: { outcome: 'loaded-bounded', ...check } });
}

policyError('file-over-3mib', 'a file larger than Kubernetes accepts', policy(`  images:\n  - glob: "**"\n${keyAuthority}`), 'file is larger than 3145728 bytes', { padTo: 3 * 1024 * 1024 + 1 });
policyError('document-over-1536kib', 'one document larger than etcd stores', policy(`  images:\n  - glob: "**"\n${keyAuthority}`), 'document is larger than 1572864 bytes', { padTo: 1536 * 1024 + 10 });
policyError('many-images-wrong', '20 000 images entries, each with an invalid glob', policy(`  images:\n${rep(20_000, '  - glob: "a b"\n')}${keyAuthority}`), 'spec\\.images\\[19999\\]\\.glob');
policyError('deep-flow-sequence', 'a flow sequence nested 5 000 deep', policy(`  images: ${rep(5000, '[')}${rep(5000, ']')}\n${keyAuthority}`), 'YAML: nested too deeply to be a Kubernetes object at line 6');
policyError('deep-flow-mapping', 'a flow mapping nested 3 000 deep', policy(`  images:\n  - glob: ${rep(3000, '{a: ')}1${rep(3000, '}')}\n${keyAuthority}`), 'YAML: nested too deeply to be a Kubernetes object at line 7');
policyError('deep-compact-sequence', 'block sequences nested 5 000 deep on one line', policy(`  images:\n  ${rep(5000, '- ')}x\n${keyAuthority}`), 'YAML: nested too deeply|spec\\.images');
policyError('deep-block-mapping', 'block mappings nested 200 deep', policy(`  images:\n  - glob: "**"\n${keyAuthority}  match:\n${Array.from({ length: 200 }, (_, i) => `${'  '.repeat(i + 2)}k${i}:`).join('\n')} x\n`), 'spec\\.match: must be of type array');
policyError('deep-block-mapping-1000', 'block mappings nested 1 000 deep, one space per level', '$LADDER(1000)$END x\n', 'YAML: nested too deeply to be a Kubernetes object');
policyError(
  'billion-laughs',
  'the YAML "billion laughs": nine levels of aliases to aliases',
  `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n`,
  'YAML: .*aliases',
);
policyError(
  'alias-bomb-in-policy',
  'a policy whose images list is built from nested aliases',
  `x: &x [{glob: "a b"},{glob: "a b"},{glob: "a b"},{glob: "a b"},{glob: "a b"},{glob: "a b"},{glob: "a b"},{glob: "a b"},{glob: "a b"},{glob: "a b"}]\ny: &y [*x,*x,*x,*x,*x,*x,*x,*x,*x,*x]\nz: &z [*y,*y,*y,*y,*y,*y,*y,*y,*y,*y]\n---\n${policy(`  images: [*z,*z,*z,*z,*z,*z,*z,*z,*z,*z,*z]\n${keyAuthority}`)}`,
  'YAML',
);
policyError('alias-undefined', 'an alias to an anchor never defined', policy(`  images: *nowhere\n${keyAuthority}`), 'YAML: .*');
policyError('alias-self', 'an anchor whose value is an alias to itself', policy(`  images: &self [*self]\n${keyAuthority}`), 'YAML|spec\\.images');
policyError('merge-key-bomb', 'merge keys (<<) repeated into a large mapping', `base: &b {k0: 0, k1: 1, k2: 2, k3: 3, k4: 4, k5: 5, k6: 6, k7: 7}\n${Array.from({ length: 120 }, (_, i) => `m${i}: {<<: *b}`).join('\n')}\n`, 'YAML: .*aliases');
policyError('duplicate-key-name', 'metadata.name given twice: which one applies?', policy(`  images:\n  - glob: "**"\n${keyAuthority}`, '  name: corpus\n  name: other'), 'YAML: Map keys must be unique');
policyError('duplicate-key-glob', 'a glob given twice in one entry', policy(`  images:\n  - glob: "ghcr.io/**"\n    glob: "**"\n${keyAuthority}`), 'YAML: Map keys must be unique');
policyError('duplicate-key-data', 'key.data given twice (the second a different key)', policy(`  images:\n  - glob: "**"\n  authorities:\n  - key:\n      data: a\n      data: b\n`), 'YAML: Map keys must be unique');
policyError('duplicate-key-authorities', 'authorities given twice, the second empty', policy(`  images:\n  - glob: "**"\n${keyAuthority}  authorities: []\n`), 'YAML: Map keys must be unique');
const BAD_REGEXPS: [string, string][] = [
  ['lookbehind', '(?<=x)y'],
  ['lookahead', 'x(?=y)'],
  ['backreference', '(a)\\1'],
  ['bad-range', '[z-a]'],
  ['unclosed-group', '(abc'],
  ['unopened-group', 'abc)'],
  ['leading-star', '*abc'],
  ['trailing-backslash', 'abc\\'],
  ['repeat-over-1000', 'a{1001}'],
  ['nested-repeat-over-1000', '(a{100}){100}'],
  ['bad-class-name', '[[:alfa:]]'],
  ['bad-escape', '\\q'],
  ['possessive', 'a++'],
  ['invalid-utf8-class', '\\p{Nope}'],
];
for (const [n, re] of BAD_REGEXPS) {
  policyError(`regexp-subject-${n}`, `subjectRegExp ${re}: not a Go regexp`, policy(keyless(`{issuer: "https://issuer.example.com", subjectRegExp: ${JSON.stringify(re)}}`)), 'spec\\.authorities\\[0\\]\\.keyless\\.identities\\[0\\]\\.subjectRegExp');
}
for (const [n, re] of BAD_REGEXPS.slice(0, 4)) {
  policyError(`regexp-issuer-${n}`, `issuerRegExp ${re}: not a Go regexp`, policy(keyless(`{issuerRegExp: ${JSON.stringify(re)}, subject: "x@example.com"}`)), 'spec\\.authorities\\[0\\]\\.keyless\\.identities\\[0\\]\\.issuerRegExp');
}
const CATASTROPHIC: [string, string][] = [
  ['nested-plus', '(a+)+$'],
  ['alternation-star', '(a|a)*$'],
  ['alternation-overlap', '(a|aa)+$'],
  ['dot-star-repeat', '(.*a){20}$'],
  ['email-redos', '^([a-zA-Z0-9])(([\\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$'],
  ['x-plus-x-plus', '(x+x+)+y'],
  ['case-insensitive-nested', '(?i)(a+)+b'],
  ['class-nested', '([a-z]+)*!$'],
];
for (const [n, re] of CATASTROPHIC) {
  policyBounded(`catastrophic-${n}`, `subjectRegExp ${re}: exponential for a backtracking engine, linear in RE2`, policy(keyless(`{issuer: "https://issuer.example.com", subjectRegExp: ${JSON.stringify(re)}}`)), {
    regexp: 'subjectRegExp',
    input: { repeat: n.startsWith('x-') ? 'x' : 'a', times: 100_000, suffix: '!' },
    // Unanchored alternatives that can match empty before `$` do match, as in Go.
    matches: n === 'alternation-star' || n === 'class-nested',
  });
}
const CATASTROPHIC_GLOBS = ['**a**a**a**a**a**a**a**a**b', '*a*a*a*a*a*a*a*a*a*a*b', 'a**/**/**/**/**/**/**/**/**b'];
for (const [i, g] of CATASTROPHIC_GLOBS.entries()) {
  policyBounded(`catastrophic-glob-${i + 1}`, `glob ${g} against a 20 000-character name`, policy(`  images:\n  - glob: ${JSON.stringify(g)}\n${keyAuthority}`), {
    glob: g,
    input: { prefix: 'ghcr.io/', repeat: i === 2 ? 'a/' : 'a', times: 10_000, suffix: '@sha256:' + 'c'.repeat(64) },
    matches: false,
  });
}
const BAD_GLOBS: [string, string, string][] = [
  ['question-mark', 'ghcr.io/app?', 'invalid glob'],
  ['char-class', 'ghcr.io/[ab]pp', 'invalid glob'],
  ['bad-char-class', 'ghcr.io/[', 'syntax error in pattern'],
  ['space', 'ghcr.io/a b', 'invalid glob'],
  ['unicode', 'ghcr.io/\u0430pp', 'invalid glob'],
  ['newline', 'ghcr.io/app\n**', 'invalid glob'],
  ['backslash', 'ghcr.io\\app', 'invalid glob'],
  ['regexp-syntax', 'ghcr.io/(a|b)', 'invalid glob'],
  ['empty', '', 'spec\\.images\\[0\\]'],
];
for (const [n, g, msg] of BAD_GLOBS) policyError(`glob-${n}`, `glob ${JSON.stringify(g)}`, policy(`  images:\n  - glob: ${JSON.stringify(g)}\n${keyAuthority}`), msg);
const WRONG_TYPES: [string, string, string][] = [
  ['images-string', `  images: "**"\n${keyAuthority}`, 'spec\\.images.*must be of type array'],
  ['images-map', `  images: {glob: "**"}\n${keyAuthority}`, 'spec\\.images.*must be of type array'],
  ['glob-number', `  images:\n  - glob: 42\n${keyAuthority}`, 'spec\\.images\\[0\\]\\.glob.*must be of type string'],
  ['glob-list', `  images:\n  - glob: ["**"]\n${keyAuthority}`, 'spec\\.images\\[0\\]\\.glob.*must be of type string'],
  ['authorities-map', `  images:\n  - glob: "**"\n  authorities: {key: {data: x}}\n`, 'spec\\.authorities.*must be of type array'],
  ['key-data-number', `  images:\n  - glob: "**"\n  authorities:\n  - key:\n      data: 12345\n`, 'spec\\.authorities\\[0\\]\\.key\\.data.*must be of type string'],
  ['key-data-yes', `  images:\n  - glob: "**"\n  authorities:\n  - key:\n      data: yes\n`, 'spec\\.authorities\\[0\\]\\.key\\.data.*must be of type string'],
  ['static-action-bool', `  images:\n  - glob: "**"\n  authorities:\n  - static:\n      action: on\n`, 'spec\\.authorities\\[0\\]\\.static\\.action.*must be of type string'],
  ['identities-string', keyless('x').replace('identities:\n      - x', 'identities: "x"'), 'identities.*must be of type array'],
  ['insecure-sct-string', `  images:\n  - glob: "**"\n  authorities:\n  - keyless:\n      insecureIgnoreSCT: "true"\n      identities: [{issuer: a, subject: b}]\n`, 'insecureIgnoreSCT.*must be of type boolean'],
  ['spec-list', `  - images: []\n`, 'spec.*must be of type object'],
  ['null-authority', `  images:\n  - glob: "**"\n  authorities:\n  - null\n`, 'spec\\.authorities\\[0\\]'],
  ['binary-tag', `  images:\n  - glob: !!binary aGVsbG8=\n${keyAuthority}`, 'spec\\.images\\[0\\]\\.glob'],
];
for (const [n, spec, msg] of WRONG_TYPES) policyError(`type-${n}`, `wrong type: ${n}`, policy(spec), msg);
policyError('unknown-tag', 'a custom YAML tag asking for an object constructor', policy(`  images:\n  - glob: !!js/function "function(){return true}"\n${keyAuthority}`), '.');
policyError('unknown-field-allow', 'an unknown field that would mean "allow all" elsewhere', policy(`  allowAll: true\n  images:\n  - glob: "**"\n${keyAuthority}`), 'unknown field "allowAll"');
policyError('mode-invalid', 'mode "audit", not enforce or warn', policy(`  mode: audit\n  images:\n  - glob: "**"\n${keyAuthority}`), 'spec\\.mode');
policyError('no-authorities', 'a policy with no authorities', policy(`  images:\n  - glob: "**"\n`), 'spec\\.authorities');
policyError('authority-empty', 'an authority with no key, keyless or static', policy(`  images:\n  - glob: "**"\n  authorities:\n  - name: nothing\n`), 'spec\\.authorities\\[0\\]');
policyError('key-and-keyless', 'an authority with both key and keyless', policy(`  images:\n  - glob: "**"\n  authorities:\n  - key:\n      data: x\n    keyless:\n      identities: [{issuer: a, subject: b}]\n`), 'spec\\.authorities\\[0\\]');
policyError('key-data-not-pem', 'key.data that is not a PEM public key', policy(`  images:\n  - glob: "**"\n  authorities:\n  - key:\n      data: "-----BEGIN PUBLIC KEY-----\\nnot base64!\\n-----END PUBLIC KEY-----"\n`), 'spec\\.authorities\\[0\\]\\.key\\.data');
policyError('key-data-private-key', 'a private key pasted where the public key goes', policy(`  images:\n  - glob: "**"\n  authorities:\n  - key:\n      data: "-----BEGIN PRIVATE KEY-----\\nMC4CAQAwBQYDK2VwBCIEIA==\\n-----END PRIVATE KEY-----"\n`), 'spec\\.authorities\\[0\\]\\.key\\.data');
policyError('keyless-no-identities', 'keyless without identities', policy(`  images:\n  - glob: "**"\n  authorities:\n  - keyless:\n      url: https://fulcio.example.com\n`), 'identities');
policyError('source-oci-invalid', 'source.oci that is not a repository', policy(`  images:\n  - glob: "**"\n  authorities:\n  - key:\n      data: x\n    source:\n    - oci: "UPPER/Case:tag@@"\n`), 'spec\\.authorities\\[0\\]\\.source\\[0\\]\\.oci');
policyError('missing-api-version', 'no apiVersion', policy(`  images:\n  - glob: "**"\n${keyAuthority}`).replace(/^apiVersion.*\n/, ''), 'apiVersion');
policyError('wrong-kind', 'a Pod, not a policy', policy(`  images:\n  - glob: "**"\n${keyAuthority}`).replace('ClusterImagePolicy', 'Pod'), 'unsupported kind "Pod"');
policyError('future-version', 'an apiVersion sigwatch does not know', policy(`  images:\n  - glob: "**"\n${keyAuthority}`).replace('v1beta1', 'v2'), 'no matches for kind');
policyError('name-uppercase', 'metadata.name with uppercase letters', policy(`  images:\n  - glob: "**"\n${keyAuthority}`, '  name: Corpus'), 'metadata\\.name');
policyError('name-254-chars', 'metadata.name over 253 characters', policy(`  images:\n  - glob: "**"\n${keyAuthority}`, `  name: ${'a'.repeat(254)}`), 'metadata\\.name');
policyError('name-unicode', 'metadata.name with a Cyrillic letter', policy(`  images:\n  - glob: "**"\n${keyAuthority}`, '  name: c\u043erpus'), 'metadata\\.name');
policyError('document-scalar', 'a document that is a plain string', 'just a string\n', 'a document must be a Kubernetes object');
policyError('document-list', 'a document that is a list', '- a\n- b\n', 'a document must be a Kubernetes object');
policyError('tab-indentation', 'tabs used for indentation', policy(`  images:\n\t- glob: "**"\n${keyAuthority}`), 'YAML');
policyError('unterminated-string', 'a quoted string never closed', policy(`  images:\n  - glob: "**\n${keyAuthority}`), 'YAML');
policyError('trustroot-tsa-chain-not-pem', 'a TrustRoot whose TSA chain is not PEM', `apiVersion: policy.sigstore.dev/v1alpha1\nkind: TrustRoot\nmetadata:\n  name: corpus\nspec:\n  sigstoreKeys:\n    timestampAuthorities:\n    - subject: {organization: o, commonName: c}\n      uri: https://fulcio.example.com\n      certChain: "bm90IGEgY2VydGlmaWNhdGU="\n`, 'spec\\.sigstoreKeys\\.timestampAuthorities\\[0\\]');
policyError('trustroot-tlog-key-garbage', 'a TrustRoot whose Rekor key is garbage', `apiVersion: policy.sigstore.dev/v1alpha1\nkind: TrustRoot\nmetadata:\n  name: corpus\nspec:\n  sigstoreKeys:\n    tLogs:\n    - baseURL: https://rekor.example.com\n      hashAlgorithm: sha-256\n      publicKey: "!!!"\n`, 'spec\\.sigstoreKeys\\.tLogs\\[0\\]');
policyError('trustroot-remote-and-repository', 'a TrustRoot with remote and repository both', `apiVersion: policy.sigstore.dev/v1alpha1\nkind: TrustRoot\nmetadata:\n  name: corpus\nspec:\n  remote:\n    mirror: https://tuf.example.com\n    root: eA==\n  repository:\n    root: eA==\n    mirrorFS: eA==\n`, 'spec');

// ---------------------------------------------------------------------------
// references: strings given to parseReference (and parseImageTarget)

const BAD_REFERENCES: [string, string][] = [
  ['empty', ''],
  ['space', 'ghcr.io/team/my app'],
  ['uppercase-repository', 'ghcr.io/Team/App'],
  ['short-digest', 'ghcr.io/team/app@sha256:abc'],
  ['uppercase-digest', `ghcr.io/team/app@sha256:${'A'.repeat(64)}`],
  ['sha512-digest', `ghcr.io/team/app@sha512:${'a'.repeat(128)}`],
  ['two-at-signs', `ghcr.io/team/app@sha256:${HEX}@sha256:${HEX}`],
  ['empty-tag', 'ghcr.io/team/app:'],
  ['tag-129', `ghcr.io/team/app:${'t'.repeat(129)}`],
  ['tag-with-plus', 'ghcr.io/team/app:v1+build'],
  ['repository-256', `ghcr.io/${'a'.repeat(256)}`],
  ['cyrillic-repository', 'ghcr.io/team/\u0430pp'],
  ['port-not-numeric', 'ghcr.io:abc/team/app'],
  ['newline', 'ghcr.io/team/app\n:latest'],
  ['nul-byte', 'ghcr.io/team/app\u0000'],
  ['tag-dollar', 'ghcr.io/team/app:$x'],
  ['userinfo', 'user:pass@ghcr.io/team/app'],
  ['only-colon', ':'],
  ['only-at', '@'],
  ['leading-colon-tag', ':latest'],
  ['digest-without-repository', `@sha256:${HEX}`],
  ['host-with-path-chars', 'ghcr.io?x=1/team/app'],
  ['host-with-fragment', 'ghcr.io#frag/team/app'],
  ['tag-with-slash-after-digest', `ghcr.io/team/app@sha256:${HEX}/x`],
  ['percent-encoding', 'ghcr.io/team/%61pp'],
  ['backslash', 'ghcr.io\\team\\app'],
  ['emoji-tag', 'ghcr.io/team/app:\u{1F600}'],
  ['tab', 'ghcr.io/team/app\t'],
  ['digest-non-hex', `ghcr.io/team/app@sha256:${'z'.repeat(64)}`],
  ['digest-algorithm-only', 'ghcr.io/team/app@sha256:'],
  ['huge', `ghcr.io/${rep(50_000, 'a/')}app`],
  ['right-to-left-override', 'ghcr.io/team/app\u202e:latest'],
  ['zero-width-space', 'ghcr.io/team/a\u200bpp'],
  ['fullwidth-colon', 'ghcr.io/team/app\uff1alatest'],
  ['uppercase-after-port', 'localhost:5000/App'],
];
for (const [n, r] of BAD_REFERENCES) {
  add('references', n, { why: `reference ${n}`, reference: r, expect: { code: 'REFERENCE_INVALID', message: '.' } });
}
add('references', 'encoded-dot-dot', {
  why: 'a `..` component percent-encoded, which URL parsing would decode and fold',
  reference: 'ghcr.io/dev/%2e%2e/prod/app:v1',
  expect: { code: 'REFERENCE_INVALID', message: '.' },
});

// Names go-containerregistry's parse accepts (it checks characters, not structure; policy globs
// are matched as it names them) but the distribution grammar refuses: refused before any fetch.
const NOT_DISTRIBUTION: [string, string, string, string][] = [
  ['dot-dot-component', 'ghcr.io/dev/../prod/app:v1', 'matched against dev/** while URL parsing fetches prod/app', 'path component "\\.\\."'],
  ['dot-dot-digest', `ghcr.io/dev/../prod/app@sha256:${HEX}`, 'a pinned prod digest under dev\'s name', 'path component "\\.\\."'],
  ['dot-dot-first', 'ghcr.io/../prod/app', 'a `..` right after the host', 'path component "\\.\\."'],
  ['dot-dot-docker-hub', 'dev/../prod', 'a Docker Hub short name with `..`', 'path component "\\.\\."'],
  ['dot-component', 'ghcr.io/dev/./app', 'a `.` component URL parsing would drop', 'path component "\\."'],
  ['three-dots', 'ghcr.io/dev/.../app', 'a component of dots only', 'path component "\\.\\.\\."'],
  ['empty-component', 'ghcr.io/team//app', 'an empty component URL parsing keeps but a registry would not serve', 'empty path component'],
  ['trailing-slash', 'ghcr.io/team/app/', 'an empty last component', 'empty path component'],
  ['leading-dash', 'ghcr.io/-team/app', 'a component starting with a separator', 'path component "-team"'],
  ['double-dot-inside', 'ghcr.io/team/a..b', 'two periods as one separator', 'path component "a\\.\\.b"'],
  ['host-underscore', 'my_registry.example.com/team/app', 'a host name character DNS does not have', 'registry "my_registry\\.example\\.com"'],
  ['tag-leading-dot', 'ghcr.io/team/app:.hidden', 'a tag the distribution grammar refuses', 'tag "\\.hidden"'],
];
for (const [n, r, why, message] of NOT_DISTRIBUTION) {
  add('references', n, { why, reference: r, expect: { code: 'REFERENCE_INVALID', message, grammar: 'distribution' } });
}

// ---------------------------------------------------------------------------
// manifests: the bytes stored as an image's `.sig` manifest (an OCI layout)

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const d = (mediaType: string, digest: string, size: number, extra: Record<string, unknown> = {}) => ({ mediaType, digest, size, ...extra });
const CONFIG = d('application/vnd.oci.image.config.v1+json', `sha256:${'c'.repeat(64)}`, 2);
const LAYER = d('application/vnd.dev.cosign.simplesigning.v1+json', `sha256:${'b'.repeat(64)}`, 10, { annotations: { 'dev.cosignproject.cosign/signature': 'MEUCIQ==' } });
const manifest = (over: Record<string, unknown>) => JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: CONFIG, layers: [LAYER], ...over });

function manifestCase(name: string, why: string, text: string, parse: { code: string; message: string } | 'ok', reason: string, extra: Record<string, unknown> = {}): void {
  add('manifests', name, { why, text, mediaType: extra.mediaType ?? OCI_MANIFEST, ...extra, expect: { parse, reason } });
}
const PROTOCOL = (message: string) => ({ code: 'REGISTRY_PROTOCOL', message });
manifestCase('not-json', 'an HTML error page served as a manifest', '<html>502 Bad Gateway</html>', PROTOCOL('manifest is not valid JSON'), 'manifest is not valid JSON');
manifestCase('truncated', 'a manifest cut off mid-way', manifest({}).slice(0, 90), PROTOCOL('manifest is not valid JSON'), 'manifest is not valid JSON');
manifestCase('empty', 'an empty body', '', PROTOCOL('manifest is not valid JSON'), 'manifest is not valid JSON');
manifestCase('json-null', 'the JSON value null', 'null', PROTOCOL('manifest is not a JSON object'), 'manifest is not a JSON object');
manifestCase('json-array', 'a JSON array', '[]', PROTOCOL('manifest is not a JSON object'), 'manifest is not a JSON object');
manifestCase('json-string', 'a JSON string', '"manifest"', PROTOCOL('manifest is not a JSON object'), 'manifest is not a JSON object');
manifestCase('bom', 'a byte-order mark before the JSON', `\ufeff${manifest({})}`, PROTOCOL('manifest is not valid JSON'), 'manifest is not valid JSON');
manifestCase('no-layers', 'config but no layers', manifest({ layers: undefined }), PROTOCOL('manifest has neither layers and config nor manifests'), 'neither layers and config nor manifests');
manifestCase('no-config', 'layers but no config', manifest({ config: undefined }), PROTOCOL('manifest has neither layers and config nor manifests'), 'neither layers and config nor manifests');
manifestCase('layers-object', 'layers as an object', manifest({ layers: { 0: LAYER } }), PROTOCOL('manifest has neither layers and config nor manifests'), 'neither layers and config nor manifests');
manifestCase('config-string', 'config as a string', manifest({ config: 'sha256:x' }), PROTOCOL('manifest has neither layers and config nor manifests'), 'neither layers and config nor manifests');
manifestCase('layer-no-digest', 'a layer without digest', manifest({ layers: [{ ...LAYER, digest: undefined }] }), PROTOCOL('layers[0]: descriptor needs mediaType, digest and size'), 'layers\\[0\\]: descriptor needs');
manifestCase('layer-digest-number', 'a layer digest that is a number', manifest({ layers: [{ ...LAYER, digest: 42 }] }), PROTOCOL('layers[0]: descriptor needs mediaType, digest and size'), 'layers\\[0\\]: descriptor needs');
manifestCase('layer-size-string', 'a layer size written as a string', manifest({ layers: [{ ...LAYER, size: '10' }] }), PROTOCOL('layers[0]: descriptor needs mediaType, digest and size'), 'layers\\[0\\]: descriptor needs');
manifestCase('layer-size-negative', 'a negative layer size', manifest({ layers: [{ ...LAYER, size: -1 }] }), PROTOCOL('layers[0]: descriptor size -1 is not a valid size'), 'descriptor size -1');
manifestCase('layer-size-fraction', 'a fractional layer size', manifest({ layers: [{ ...LAYER, size: 1.5 }] }), PROTOCOL('layers[0]: descriptor size 1.5 is not a valid size'), 'descriptor size 1\\.5');
manifestCase('layer-size-2-to-60', 'a layer size beyond 2^53', manifest({ layers: [{ ...LAYER, size: 2 ** 60 }] }), PROTOCOL(`layers[0]: descriptor size ${2 ** 60} is not a valid size`), 'is not a valid size');
manifestCase('layer-size-exponent', 'a layer size of 1e400 (Infinity)', manifest({}).replace('"size":10', '"size":1e400'), PROTOCOL('layers[0]: descriptor size Infinity is not a valid size'), 'is not a valid size');
manifestCase('layer-null', 'a null layer', manifest({ layers: [null] }), PROTOCOL('layers[0]: descriptor needs mediaType, digest and size'), 'layers\\[0\\]: descriptor needs');
manifestCase('layer-media-type-missing', 'a layer without mediaType', manifest({ layers: [{ ...LAYER, mediaType: undefined }] }), PROTOCOL('layers[0]: descriptor needs mediaType, digest and size'), 'layers\\[0\\]: descriptor needs');
manifestCase('annotations-number', 'an annotation whose value is a number', manifest({ layers: [{ ...LAYER, annotations: { 'dev.cosignproject.cosign/signature': 42 } }] }), PROTOCOL('layers[0]: annotations must map strings to strings'), 'annotations must map strings to strings');
manifestCase('annotations-array', 'annotations as an array', manifest({ layers: [{ ...LAYER, annotations: ['x'] }] }), PROTOCOL('layers[0]: annotations must map strings to strings'), 'annotations must map strings to strings');
manifestCase('annotations-nested-object', 'an annotation holding an object', manifest({ layers: [{ ...LAYER, annotations: { 'dev.cosignproject.cosign/signature': { b64: 'x' } } }] }), PROTOCOL('layers[0]: annotations must map strings to strings'), 'annotations must map strings to strings');
manifestCase('config-no-size', 'a config descriptor without size', manifest({ config: { ...CONFIG, size: undefined } }), PROTOCOL('config: descriptor needs mediaType, digest and size'), 'config: descriptor needs');
manifestCase('media-type-schema1', 'a Docker schema 1 manifest', manifest({ mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' }), PROTOCOL('unsupported manifest media type "application/vnd.docker.distribution.manifest.v1+prettyjws"'), 'unsupported manifest media type');
manifestCase('media-type-html', 'mediaType text/html', manifest({ mediaType: 'text/html' }), PROTOCOL('unsupported manifest media type "text/html"'), 'unsupported manifest media type');
manifestCase('media-type-index-with-layers', 'an image manifest that calls itself an index', manifest({ mediaType: OCI_INDEX }), PROTOCOL(`an image manifest (it has layers and config) with media type "${OCI_INDEX}"`), 'an image manifest \\(it has layers and config\\) with media type');
manifestCase('media-type-manifest-with-children', 'an index that calls itself an image manifest', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, manifests: [] }), PROTOCOL(`an index (it has manifests) with media type "${OCI_MANIFEST}"`), 'an index \\(it has manifests\\) with media type');
manifestCase('media-type-docker-list-with-layers', 'an image manifest that calls itself a Docker manifest list', manifest({ mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json' }), PROTOCOL('an image manifest (it has layers and config) with media type "application/vnd.docker.distribution.manifest.list.v2+json"'), 'an image manifest \\(it has layers and config\\)');
manifestCase('media-type-number', 'mediaType given as a number, descriptor says manifest', manifest({ mediaType: 7 }), 'ok', 'no valid signatures');
manifestCase('deep-annotations', 'an annotation key holding JSON nested 100 000 deep', manifest({}).replace('"schemaVersion":2', `"x":${rep(100_000, '[')}${rep(100_000, ']')},"schemaVersion":2`), 'ok', 'no valid signatures');
manifestCase('proto-layers', 'layers only under __proto__', `{"schemaVersion":2,"config":${JSON.stringify(CONFIG)},"__proto__":{"layers":[]}}`, PROTOCOL('manifest has neither layers and config nor manifests'), 'neither layers and config nor manifests');
manifestCase('zero-layers', 'a signature manifest with no layers at all', manifest({ layers: [] }), 'ok', 'no signatures found');
manifestCase('ten-thousand-layers', '10 000 layers without a signature annotation', manifest({ layers: ['$LAYERS'] }).replace('"$LAYERS"', `${rep(9_999, `${JSON.stringify({ mediaType: LAYER.mediaType, digest: LAYER.digest, size: 10 })},`)}${JSON.stringify({ mediaType: LAYER.mediaType, digest: LAYER.digest, size: 10 })}`), 'ok', '10000 layers, more than the 1000 cosign accepts in a signature manifest');
manifestCase('over-4mib', 'a manifest of 4 MiB + 1 byte', manifest({}), { code: 'TOO_LARGE', message: '' }, 'exceeds the 4194304-byte limit', { padTo: 4 * 1024 * 1024 + 1 });
manifestCase('index-as-signature', 'an index stored where the signature manifest belongs', JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }), 'ok', 'is an index, expected a signature manifest', { mediaType: OCI_INDEX });
manifestCase('index-cycle-to-image', 'an index at the .sig tag listing the image itself (image → .sig → image)', JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [d(OCI_MANIFEST, '$IMAGE_DIGEST', 100)] }), 'ok', 'is an index, expected a signature manifest', { mediaType: OCI_INDEX });
manifestCase('index-cycle-claimed-self', 'an index listing a child under a digest it claims is its own (content addressing makes a true cycle impossible: the child cannot be found)', JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [d(OCI_INDEX, `sha256:${'e'.repeat(64)}`, 100)] }), 'ok', 'is an index, expected a signature manifest', { mediaType: OCI_INDEX });
manifestCase('index-manifests-string', 'manifests as a string (then neither shape)', JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: 'x' }), PROTOCOL('manifest has neither layers and config nor manifests'), 'neither layers and config nor manifests', { mediaType: OCI_INDEX });
manifestCase('index-bad-child', 'an index whose child descriptor has no digest', JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, size: 1 }] }), PROTOCOL('manifests[0]: descriptor needs mediaType, digest and size'), 'manifests\\[0\\]: descriptor needs', { mediaType: OCI_INDEX });
manifestCase('index-huge', 'an index of 40 000 children (≈ 4.4 MB)', JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: ['$M'] }).replace('"$M"', `${rep(39_999, `${JSON.stringify(d(OCI_MANIFEST, `sha256:${HEX}`, 1))},`)}${JSON.stringify(d(OCI_MANIFEST, `sha256:${HEX}`, 1))}`), { code: 'TOO_LARGE', message: '' }, 'exceeds the 4194304-byte limit', { mediaType: OCI_INDEX });
manifestCase('layer-digest-sha512', 'a signature layer named by a sha512 digest', manifest({ layers: [{ ...LAYER, digest: `sha512:${'b'.repeat(128)}` }] }), 'ok', 'unsupported digest');
manifestCase('layer-digest-traversal', 'a layer digest that is a path traversal', manifest({ layers: [{ ...LAYER, digest: 'sha256:../../../../etc/passwd' }] }), PROTOCOL('layers[0]: descriptor digest "sha256:../../../../etc/passwd" is not a digest'), 'is not a digest');
manifestCase('index-child-digest-traversal', 'an index child whose digest walks the URL path', JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [d(OCI_MANIFEST, 'sha256:../../../_catalog', 10)] }), PROTOCOL('manifests[0]: descriptor digest "sha256:../../../_catalog" is not a digest'), 'is not a digest', { mediaType: OCI_INDEX });
manifestCase('config-digest-slash', 'a config digest with a slash', manifest({ config: { ...CONFIG, digest: 'sha256:abc/def' } }), PROTOCOL('config: descriptor digest "sha256:abc/def" is not a digest'), 'is not a digest');
manifestCase('layer-missing-blob', 'a layer whose blob is not stored', manifest({}), 'ok', 'blob not found');
manifestCase('layer-declared-huge', 'a signature layer declared 5 GB', manifest({ layers: [{ ...LAYER, size: 5e9 }] }), 'ok', 'blob of 5000000000 bytes exceeds the 4194304-byte limit');

// ---------------------------------------------------------------------------
// signatures: cosign `.sig` manifests built from these layers (key policy unless `policy: keyless`)

const SIG = 'dev.cosignproject.cosign/signature';
const CERT = 'dev.sigstore.cosign/certificate';
const CHAIN = 'dev.sigstore.cosign/chain';
const BUNDLE = 'dev.sigstore.cosign/bundle';
const TSA = 'dev.sigstore.cosign/rfc3161timestamp';
function signature(name: string, why: string, layers: Record<string, unknown>[], reason: string, extra: Record<string, unknown> = {}): void {
  add('signatures', name, { why, policy: 'key', ...extra, layers, expect: { reason } });
}
const signed = (annotations: Record<string, string> = {}, payload: unknown = '$PAYLOAD') => ({ payload, annotations: { [SIG]: '$SIGNATURE', ...annotations } });
signature('no-signature-annotation', 'a layer without the signature annotation', [{ payload: '$PAYLOAD', annotations: {} }], 'no dev\\.cosignproject\\.cosign/signature annotation');
signature('signature-empty', 'an empty signature annotation', [signed({ [SIG]: '' })], 'signature annotation is not base64');
signature('signature-not-base64', 'signature annotation with characters outside base64', [signed({ [SIG]: 'MEUC!!IQ==' })], 'signature annotation is not base64');
signature('signature-bad-padding', 'signature annotation with broken padding', [signed({ [SIG]: 'MEUCIQ=' })], 'signature annotation is not base64');
signature('signature-url-safe', 'URL-safe base64 (- and _)', [signed({ [SIG]: 'MEUCIQ-_' })], 'signature annotation is not base64');
signature('signature-garbage-bytes', 'base64 of bytes that are no signature', [signed({ [SIG]: Buffer.from('not a signature').toString('base64') })], "does not verify with the authority's key");
signature('signature-huge', 'a 2 MB signature annotation', [signed({ [SIG]: '$HUGE_BASE64' })], "does not verify with the authority's key");
signature('signature-other-payload', 'a valid signature over another payload', [signed({ [SIG]: '$OTHER_SIGNATURE' })], "does not verify with the authority's key");
signature('signature-other-key', 'signed with a key the policy does not trust', [signed({ [SIG]: '$FOREIGN_SIGNATURE' })], "does not verify with the authority's key");
signature('payload-not-json', 'a validly signed payload that is not JSON', [signed({}, 'not json at all')], 'payload is not valid JSON');
signature('payload-array', 'a validly signed payload that is a JSON array', [signed({}, [])], 'payload has no critical\\.image\\.docker-manifest-digest');
signature('payload-no-digest', 'signed payload without docker-manifest-digest', [signed({}, { critical: { identity: {}, image: {}, type: 'cosign container image signature' } })], 'payload has no critical\\.image\\.docker-manifest-digest');
signature('payload-digest-number', 'signed payload whose digest is a number', [signed({}, { critical: { image: { 'docker-manifest-digest': 42 }, type: 'cosign container image signature' } })], 'payload has no critical\\.image\\.docker-manifest-digest');
signature('payload-wrong-type', 'signed payload of another type', [signed({}, { critical: { image: { 'docker-manifest-digest': '$IMAGE_DIGEST' }, type: 'atomic container signature' } })], 'payload type "atomic container signature" is not a cosign container image signature');
signature('payload-other-digest', "signed payload vouching for another image's digest", [signed({}, { critical: { image: { 'docker-manifest-digest': '$OTHER_DIGEST' }, type: 'cosign container image signature' } })], 'signs sha256:[0-9a-f]{64}, not this image');
signature('payload-uppercase-digest', 'signed payload with the digest in uppercase hex', [signed({}, { critical: { image: { 'docker-manifest-digest': '$IMAGE_DIGEST_UPPER' }, type: 'cosign container image signature' } })], 'not this image');
signature('payload-digest-with-tag', 'signed payload naming repo:tag instead of a digest', [signed({}, { critical: { image: { 'docker-manifest-digest': 'registry.example.com/team/app:latest' }, type: 'cosign container image signature' } })], 'not this image');
signature('payload-case-variant-key', 'the digest under a key Go would read case-insensitively', [signed({}, { critical: { image: { 'Docker-Manifest-Digest': '$IMAGE_DIGEST' }, type: 'cosign container image signature' } })], 'payload has no critical\\.image\\.docker-manifest-digest');
signature('payload-duplicate-digest-key', 'the digest given twice, this image first and another last (JSON readers keep the last)', [signed({}, '{"critical":{"image":{"docker-manifest-digest":"$IMAGE_DIGEST","docker-manifest-digest":"$OTHER_DIGEST"},"type":"cosign container image signature"}}')], 'not this image');
signature('payload-proto-digest', 'the digest only under __proto__', [signed({}, '{"critical":{"image":{"__proto__":{"docker-manifest-digest":"$IMAGE_DIGEST"}},"type":"cosign container image signature"}}')], 'payload has no critical\\.image\\.docker-manifest-digest');
signature('payload-deep', 'a signed payload nested 50 000 deep', [signed({}, `{"critical":${rep(50_000, '[')}${rep(50_000, ']')}}`)], 'payload has no critical');
signature('duplicate-signature-annotation', 'the signature annotation twice, a valid one first and garbage last', [], 'signature annotation is not base64', { manifestText: 'duplicate-annotation' });
signature('layers-over-cosign-limit', '1 001 layers with valid signatures: more than cosign reads', Array.from({ length: 1001 }, () => signed()), 'layers, more than the 1000 cosign accepts');
signature('many-bad-layers', '200 layers, each with a bad signature', Array.from({ length: 200 }, () => signed({ [SIG]: Buffer.from('x').toString('base64') })), "layer 199|does not verify with the authority's key");
signature('layer-size-mismatch', 'a layer descriptor whose size is not the blob size', [{ ...signed(), sizeDelta: 1 }], 'blob is \\d+ bytes, descriptor says \\d+');
signature('bundle-annotation-truncated', 'a truncated Rekor bundle annotation on a keyless signature', [signed({ [CERT]: '$FIXTURE_CERT', [CHAIN]: '$FIXTURE_CHAIN', [BUNDLE]: '{"SignedEntryTimestamp":"MEUC' }, '$PAYLOAD')], 'bundle annotation is not valid JSON', { policy: 'keyless', sign: 'keyless' });
signature('bundle-annotation-wrong-types', 'a Rekor bundle whose Payload fields have the wrong types', [signed({ [CERT]: '$FIXTURE_CERT', [CHAIN]: '$FIXTURE_CHAIN', [BUNDLE]: JSON.stringify({ SignedEntryTimestamp: 'x', Payload: { body: 1, integratedTime: 'now', logIndex: '1', logID: 2 } }) })], 'Rekor bundle Payload needs body, integratedTime, logIndex and logID', { policy: 'keyless', sign: 'keyless' });
signature('bundle-annotation-body-not-base64', 'a Rekor bundle whose body is not base64 JSON', [signed({ [CERT]: '$FIXTURE_CERT', [CHAIN]: '$FIXTURE_CHAIN', [BUNDLE]: JSON.stringify({ SignedEntryTimestamp: 'x', Payload: { body: '%%%', integratedTime: 1, logIndex: 1, logID: 'ab' } }) })], 'Rekor bundle Payload\\.body is not base64 of a JSON entry', { policy: 'keyless', sign: 'keyless' });
signature('bundle-annotation-array', 'a Rekor bundle annotation that is an array', [signed({ [CERT]: '$FIXTURE_CERT', [CHAIN]: '$FIXTURE_CHAIN', [BUNDLE]: '[]' })], 'Rekor bundle annotation lacks SignedEntryTimestamp or Payload', { policy: 'keyless', sign: 'keyless' });
signature('timestamp-annotation-garbage', 'an RFC 3161 annotation without a timestamp', [signed({ [CERT]: '$FIXTURE_CERT', [CHAIN]: '$FIXTURE_CHAIN', [BUNDLE]: '$FIXTURE_REKOR', [TSA]: '{"x":1}' })], 'RFC 3161 timestamp annotation lacks SignedRFC3161Timestamp', { policy: 'keyless', sign: 'keyless' });
signature('certificate-not-pem', 'a certificate annotation that is not PEM', [signed({ [CERT]: 'not a certificate', [CHAIN]: '', [BUNDLE]: '$FIXTURE_REKOR' })], 'certificate annotation holds no PEM certificate', { policy: 'keyless', sign: 'keyless' });
signature('certificate-bad-base64', 'a PEM block whose body is not base64', [signed({ [CERT]: '-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----', [CHAIN]: '', [BUNDLE]: '$FIXTURE_REKOR' })], 'certificate annotation holds an invalid X\\.509 certificate', { policy: 'keyless', sign: 'keyless' });
signature('certificate-garbage-der', 'a PEM block of bytes that are not DER', [signed({ [CERT]: `-----BEGIN CERTIFICATE-----\n${Buffer.from('garbage certificate bytes').toString('base64')}\n-----END CERTIFICATE-----`, [CHAIN]: '', [BUNDLE]: '$FIXTURE_REKOR' })], 'certificate annotation holds an invalid X\\.509 certificate', { policy: 'keyless', sign: 'keyless' });
signature('certificate-chain-too-long', 'the CA chain repeated 40 times after the leaf', [signed({ [CERT]: '$FIXTURE_CERT', [CHAIN]: '$FIXTURE_CHAIN_X40', [BUNDLE]: '$FIXTURE_REKOR' })], 'certificate chain of 40 certificates is longer than the 10 sigwatch accepts', { policy: 'keyless', sign: 'keyless' });
signature('certificate-chain-garbage', 'a valid leaf followed by a chain block that is no certificate', [signed({ [CERT]: '$FIXTURE_CERT', [CHAIN]: `-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`, [BUNDLE]: '$FIXTURE_REKOR' })], 'chain annotation: certificate 1 is not a valid X\\.509 certificate', { policy: 'keyless', sign: 'keyless' });
signature('certificate-many-blocks', '500 PEM blocks of garbage in the chain annotation', [signed({ [CERT]: '$FIXTURE_CERT', [CHAIN]: `-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`.repeat(500), [BUNDLE]: '$FIXTURE_REKOR' })], 'certificate chain of 500 certificates is longer than the 10', { policy: 'keyless', sign: 'keyless' });
signature('keyless-no-certificate', 'a keyless policy given a key-made signature', [signed()], 'not a keyless signature \\(no certificate\\)', { policy: 'keyless' });
signature('keyless-other-identity', 'a valid keyless signature by another workflow', [signed({ [CERT]: '$FIXTURE_CERT', [CHAIN]: '$FIXTURE_CHAIN', [BUNDLE]: '$FIXTURE_REKOR' })], 'none of the expected identities matched', { policy: 'keyless', sign: 'keyless', identity: 'https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main' });
signature('keyless-no-rekor', 'a keyless signature without its Rekor bundle', [signed({ [CERT]: '$FIXTURE_CERT', [CHAIN]: '$FIXTURE_CHAIN' })], 'TIMESTAMP_ERROR', { policy: 'keyless', sign: 'keyless' });
signature('keyless-rekor-of-other', "a keyless signature carrying another signature's Rekor entry", [signed({ [CERT]: '$FIXTURE_CERT', [CHAIN]: '$FIXTURE_CHAIN', [BUNDLE]: '$FIXTURE_REKOR_OTHER' })], 'CERTIFICATE_ERROR|TLOG_', { policy: 'keyless', sign: 'keyless' });

// ---------------------------------------------------------------------------
// bundles: sigstore bundles served as cosign v3 referrers (keyless policy)

function bundle(name: string, why: string, spec: Record<string, unknown>, reason: string): void {
  add('bundles', name, { why, ...spec, expect: { reason } });
}
const statement = (over: Record<string, unknown> = {}) => ({
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: 'registry.example.com/team/app', digest: { sha256: '$IMAGE_HEX' } }],
  predicateType: 'https://sigstore.dev/cosign/sign/v1',
  predicate: {},
  ...over,
});
bundle('raw-not-json', 'a bundle layer that is not JSON', { raw: 'not json' }, 'bundle is not valid JSON');
bundle('raw-truncated', 'a bundle cut off mid-way', { raw: '{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{' }, 'bundle is not valid JSON');
bundle('raw-array', 'a bundle that is a JSON array', { raw: '[]' }, 'bundle is not a JSON object');
bundle('raw-null', 'the JSON value null', { raw: 'null' }, 'bundle is not a JSON object');
bundle('raw-empty-object', 'an empty object', { raw: '{}' }, 'not a valid sigstore bundle');
bundle('raw-deep', 'a bundle nested 100 000 deep', { raw: `{"x":${rep(100_000, '[')}${rep(100_000, ']')}}` }, 'not a valid sigstore bundle');
bundle('media-type-unknown', 'a bundle with an unknown mediaType', { sign: {}, mutate: [{ path: 'mediaType', set: 'application/vnd.dev.sigstore.bundle.v9+json' }] }, 'not a valid sigstore bundle');
bundle('media-type-number', 'mediaType given as a number', { sign: {}, mutate: [{ path: 'mediaType', set: 3 }] }, 'not a valid sigstore bundle');
bundle('no-verification-material', 'verificationMaterial removed', { sign: {}, mutate: [{ path: 'verificationMaterial', delete: true }] }, 'not a valid sigstore bundle');
bundle('no-certificate', 'the certificate removed', { sign: {}, mutate: [{ path: 'verificationMaterial.certificate', delete: true }] }, 'not a valid sigstore bundle');
bundle('certificate-garbage', 'the certificate bytes replaced by garbage', { sign: {}, mutate: [{ path: 'verificationMaterial.certificate.rawBytes', set: Buffer.from('garbage').toString('base64') }] }, '.');
bundle('certificate-bad-base64', 'the certificate bytes not base64', { sign: {}, mutate: [{ path: 'verificationMaterial.certificate.rawBytes', set: '%%%not base64%%%' }] }, '.');
bundle('chain-too-long', 'an x509CertificateChain of 40 certificates', { sign: {}, mutate: [{ path: 'verificationMaterial.certificate', delete: true }, { path: 'verificationMaterial.x509CertificateChain', set: '$CHAIN_X40' }] }, 'not a valid sigstore bundle');
bundle('no-tlog-entries', 'Rekor entries removed', { sign: {}, mutate: [{ path: 'verificationMaterial.tlogEntries', set: [] }] }, 'TIMESTAMP_ERROR');
bundle('tlog-entry-garbage', 'a Rekor entry with wrong types', { sign: {}, mutate: [{ path: 'verificationMaterial.tlogEntries', set: [{ logIndex: {}, logId: 5 }] }] }, 'not a valid sigstore bundle');
bundle('dsse-no-signatures', 'a DSSE envelope with no signatures', { sign: {}, mutate: [{ path: 'dsseEnvelope.signatures', set: [] }] }, 'not a valid sigstore bundle');
bundle('dsse-two-signatures', 'a DSSE envelope with a second, garbage signature', { sign: {}, mutate: [{ path: 'dsseEnvelope.signatures.1', set: { sig: 'AAAA', keyid: '' } }] }, 'not a valid sigstore bundle');
bundle('dsse-signature-bad-base64', 'a DSSE signature that is not base64', { sign: {}, mutate: [{ path: 'dsseEnvelope.signatures.0.sig', set: '!!!' }] }, 'not a valid sigstore bundle');
bundle('dsse-payload-bad-base64', 'a DSSE payload that is not base64', { sign: {}, mutate: [{ path: 'dsseEnvelope.payload', set: '***' }] }, 'not a valid sigstore bundle');
bundle('dsse-payload-swapped', 'the payload replaced by a statement for this image that was never signed', { sign: {}, mutate: [{ path: 'dsseEnvelope.payload', set: '$UNSIGNED_STATEMENT_B64' }] }, 'TLOG_BODY_ERROR: DSSE payload hash mismatch|SIGNATURE_ERROR');
bundle('dsse-payload-type-changed', 'payloadType changed after signing', { sign: {}, mutate: [{ path: 'dsseEnvelope.payloadType', set: 'text/plain' }] }, 'SIGNATURE_ERROR: signature verification failed');
bundle('signed-payload-type-text', 'a validly signed DSSE of payloadType text/plain', { sign: { payloadType: 'text/plain' } }, 'DSSE payload type text/plain is not an in-toto statement');
bundle('signed-predicate-other', 'a validly signed statement with another predicate', { sign: { statement: statement({ predicateType: 'https://slsa.dev/provenance/v1' }) } }, 'predicate type https://slsa.dev/provenance/v1 is not a cosign signature');
bundle('signed-subject-other', 'a validly signed statement for another digest', { sign: { statement: statement({ subject: [{ name: 'x', digest: { sha256: '$OTHER_HEX' } }] }) } }, 'statement subjects do not include this image digest');
bundle('signed-subject-missing', 'a validly signed statement without subject', { sign: { statement: statement({ subject: undefined }) } }, 'statement subjects do not include this image digest');
bundle('signed-subject-object', 'a validly signed statement whose subject is an object', { sign: { statement: statement({ subject: { digest: { sha256: '$IMAGE_HEX' } } }) } }, 'statement subjects do not include this image digest');
bundle('signed-subject-uppercase', 'a validly signed statement with the digest in uppercase', { sign: { statement: statement({ subject: [{ name: 'x', digest: { sha256: '$IMAGE_HEX_UPPER' } }] }) } }, 'statement subjects do not include this image digest');
bundle('signed-subject-sha512-only', 'a validly signed statement naming only a sha512 digest', { sign: { statement: statement({ subject: [{ name: 'x', digest: { sha512: '$IMAGE_HEX' } }] }) } }, 'statement subjects do not include this image digest');
bundle('signed-statement-not-json', 'a validly signed statement that is not JSON', { sign: { statement: 'not json' } }, 'in-toto statement is not valid JSON');
bundle('signed-statement-array', 'a validly signed statement that is an array', { sign: { statement: [] } }, 'in-toto statement is not a JSON object');
bundle('signed-duplicate-predicate', 'predicateType twice, the cosign one first (the last is read)', { sign: { statement: '{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"$IMAGE_HEX"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicateType":"https://evil.example/v1","predicate":{}}' } }, 'predicate type https://evil.example/v1 is not a cosign signature');
bundle('signed-other-identity', 'a valid bundle signed by another workflow', { sign: { identity: 'https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main' } }, 'none of the expected identities matched');
bundle('message-signature', 'a message-signature bundle (cannot name an image)', { sign: { messageSignature: true } }, 'message-signature bundles cannot name an image digest');
bundle('referrer-subject-other', 'a valid bundle in a referrer whose subject is another image', { sign: {}, referrer: { subject: '$OTHER_DIGEST' } }, 'subject is sha256:[0-9a-f]{64}, not this image');
bundle('referrer-no-subject', 'a valid bundle in a referrer without subject', { sign: {}, referrer: { subject: null } }, 'subject is missing, not this image');
bundle('referrer-no-bundle-layer', 'a referrer whose layer is not a bundle', { sign: {}, referrer: { layerMediaType: 'application/octet-stream' } }, 'no sigstore bundle layer');
bundle('referrer-layer-too-big', 'a referrer whose bundle layer is declared 1 GB', { sign: {}, referrer: { layerSize: 1_000_000_000 } }, 'exceeds the 4194304-byte limit');

// ---------------------------------------------------------------------------

for (const [kind, forKind] of cases) {
  const dir = join(root, kind);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, body] of forKind) writeFileSync(join(dir, `${slug(name)}.json`), `${JSON.stringify(body, null, 1)}\n`);
}
const counts = [...cases].map(([kind, m]) => `${kind} ${m.size}`);
console.log(`corpus: ${counts.join(', ')}; total ${[...cases.values()].reduce((n, m) => n + m.size, 0)}`);
void readdirSync;
