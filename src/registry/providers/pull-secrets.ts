import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SigwatchError } from '../../errors.ts';
import { anonymous, dockerConfigLookup, normalizeAuthKey, type Credential, type CredentialLookup } from '../credentials.ts';
import { isObject } from '../../json.ts';
import type { Clock } from '../../clock.ts';
import { isGcpRegistry, serviceAccountKeyCredential } from './gcp.ts';

/**
 * Kubernetes image pull secrets (`signaturePullSecrets` in a policy), kept in
 * AWS Secrets Manager because sigwatch has no cluster to read them from.
 *
 * Tenancy: one function reads the secrets of every team, so the rule that a
 * team's policy reaches only its team's secrets is enforced here, not by IAM
 * alone. A policy names a secret by its Kubernetes name; the store maps it
 * under a prefix the caller chose for that team. Names are checked against the
 * Kubernetes grammar before anything else, which has no `/` and no `..`, so
 * no name can climb out of the prefix.
 */

/** Kubernetes object names (DNS-1123 subdomains): lowercase alphanumerics, `-` and `.`, dot-separated labels. */
const K8S_NAME = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
const K8S_NAME_MAX = 253;

/** Throws CONFIG unless `name` is a Kubernetes secret name, the only names a policy may use. */
export function assertPullSecretName(name: string): void {
  if (typeof name !== 'string' || name.length > K8S_NAME_MAX || !K8S_NAME.test(name)) {
    throw new SigwatchError(
      'CONFIG',
      `pull secret name ${JSON.stringify(name)} is not a Kubernetes secret name (lowercase letters, digits, "-" and "."; no "/" or "..")`,
    );
  }
}

/** Characters Secrets Manager allows in a name; `:` is not among them, so a prefix cannot turn into an ARN. */
const SECRET_PREFIX = /^[A-Za-z0-9_+=.@-]+(?:\/[A-Za-z0-9_+=.@-]+)*$/;

/**
 * The tenancy rule as a mapping: secret `name` of a team is `${prefix}/${name}`.
 * The prefix comes from the operator (one per team), never from a policy.
 */
export function secretIdUnder(prefix: string): (name: string) => string {
  // `sigwatch.yaml` writes prefixes as folders (`sigwatch/acme/`); the id is the same either way.
  prefix = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (!SECRET_PREFIX.test(prefix) || prefix.split('/').some((segment) => segment === '.' || segment === '..')) {
    throw new SigwatchError('CONFIG', `pull secret prefix ${JSON.stringify(prefix)} is not a Secrets Manager name path (no leading or trailing "/", no "..")`);
  }
  return (name) => `${prefix}/${name}`;
}

const DEFAULT_SECRET_TTL_MS = 5 * 60_000;

export interface SecretCacheOptions<T> {
  client: SecretsManagerClient;
  /** Turns the secret's text into what callers use; throws CONFIG naming `label`, never echoing the text. */
  parse: (text: string, label: string) => T;
  /** How long a secret is reused before it is read again, so a rotation is seen within this time. */
  ttlMs?: number;
  now: Clock;
}

/**
 * Secrets Manager values read once per TTL and parsed once per read, shared by
 * concurrent callers. Registry clients ask for a credential on every request,
 * so without this each manifest and blob would cost a GetSecretValue.
 */
export class SecretCache<T> {
  private readonly client: SecretsManagerClient;
  private readonly parse: (text: string, label: string) => T;
  private readonly ttlMs: number;
  private readonly now: Clock;
  private readonly values = new Map<string, { value: T; expiresAt: number }>();
  private readonly pending = new Map<string, Promise<T>>();

  constructor(opts: SecretCacheOptions<T>) {
    this.client = opts.client;
    this.parse = opts.parse;
    this.ttlMs = opts.ttlMs ?? DEFAULT_SECRET_TTL_MS;
    this.now = opts.now;
  }

  /** `label` is how errors name the secret (its name and id, never its value). */
  async get(secretId: string, label: string): Promise<T> {
    const cached = this.values.get(secretId);
    if (cached && cached.expiresAt > this.now()) return cached.value;
    this.values.delete(secretId);
    let pending = this.pending.get(secretId);
    if (!pending) {
      pending = readSecretText(this.client, secretId, label)
        .then((text) => {
          const value = this.parse(text, label);
          this.values.set(secretId, { value, expiresAt: this.now() + this.ttlMs });
          return value;
        })
        .finally(() => this.pending.delete(secretId));
      this.pending.set(secretId, pending);
    }
    return pending;
  }
}

/** Errors that an operator fixes (the secret, its key or the role's policy), as opposed to ones that pass. */
const CONFIG_ERRORS = new Set(['AccessDeniedException', 'DecryptionFailure', 'InvalidRequestException', 'InvalidParameterException']);

async function readSecretText(client: SecretsManagerClient, secretId: string, label: string): Promise<string> {
  let out;
  try {
    out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  } catch (err) {
    const name = awsErrorName(err);
    if (name === 'ResourceNotFoundException') throw new SigwatchError('CONFIG', `${label} not found in Secrets Manager`);
    // Throttling, an outage: no credential this time, a deny that a later attempt may turn around.
    const code = CONFIG_ERRORS.has(name) ? 'CONFIG' : 'REGISTRY_AUTH';
    throw new SigwatchError(code, `${label}: Secrets Manager GetSecretValue failed (${name})`);
  }
  if (typeof out.SecretString === 'string') return out.SecretString;
  if (out.SecretBinary) return Buffer.from(out.SecretBinary).toString('utf8');
  throw new SigwatchError('CONFIG', `${label} has no value`);
}

/** One `auths` entry: the normalised key (registry or registry/namespace) and the raw entry. */
type AuthEntry = [key: string, value: unknown];

/**
 * What one pull secret holds: Docker `auths` entries, or a Google service
 * account key (KubeClarity's `gcr-sa`), which is offered to GCR and Artifact
 * Registry hosts only.
 */
export type PullSecret = { kind: 'auths'; auths: AuthEntry[] } | { kind: 'gcp-key'; credential: Credential };

/**
 * A pull secret's value in any of the forms it is kept in:
 * - a `kubernetes.io/dockerconfigjson` secret's data, `{".dockerconfigjson": "<JSON>"}`,
 *   the value plain (`stringData`) or base64 (`data`, as `kubectl get -o json` shows it);
 * - a `kubernetes.io/dockercfg` secret's data, `{".dockercfg": "<JSON of the auths map>"}`;
 * - the Docker config itself (`{"auths": {...}}`) or a bare auths map;
 * - a Google service account key file, or `{"sa.json": "<the key file>"}` (KubeClarity's `gcr-sa`).
 * Errors name the secret and what is wrong, never the content: JSON parser
 * messages quote the text, so they are not passed on.
 */
export function parsePullSecret(text: string, label: string): PullSecret {
  const doc = parseJson(text, `${label}: the value`);
  if (!isObject(doc)) throw new SigwatchError('CONFIG', `${label}: the value is not a JSON object`);
  if ('sa.json' in doc || doc.type === 'service_account') return { kind: 'gcp-key', credential: serviceAccountKeyCredential(text, label) };
  let config: unknown = doc;
  for (const field of ['.dockerconfigjson', '.dockercfg'] as const) {
    if (!(field in doc)) continue;
    const inner = doc[field];
    config = typeof inner === 'string' ? parseJson(inner, `${label}: "${field}"`, { base64: true }) : inner;
    if (!isObject(config)) throw new SigwatchError('CONFIG', `${label}: "${field}" is not a JSON object`);
    if (field === '.dockerconfigjson' && !isObject(config.auths)) {
      throw new SigwatchError('CONFIG', `${label}: "${field}" has no "auths" object`);
    }
    break;
  }
  const auths = isObject(config) && 'auths' in config ? config.auths : config;
  if (!isObject(auths) || Object.values(auths).some((v) => !isObject(v))) {
    throw new SigwatchError(
      'CONFIG',
      `${label}: expected a Kubernetes pull secret (".dockerconfigjson" or ".dockercfg"), a Docker config with "auths" mapping registries to credentials, or a Google service account key ("sa.json")`,
    );
  }
  // Parse once here for the checks dockerConfigLookup makes, so a broken entry is reported against its secret.
  dockerConfigLookup({ auths }, label);
  return { kind: 'auths', auths: Object.entries(auths).map(([key, value]) => [normalizeAuthKey(key), value]) };
}

/** Where named pull secrets are read from: Secrets Manager under a team prefix, or a local folder of manifests. */
export interface PullSecretSource {
  /** `name` checked and placed under the team's scope; `label` names it in errors (name and where, never the value). */
  locate(name: string): { id: string; label: string };
  read(id: string, label: string): Promise<PullSecret>;
}

/**
 * One lookup over the named secrets (a policy's `signaturePullSecrets`), as
 * if their `auths` were one Docker config: the longest matching prefix across
 * all of them wins, and for the same key the secret named first. A service
 * account key among them answers for GCR and Artifact Registry hosts that no
 * `auths` entry covers (the first key named). Names are checked now, before
 * anything is read; secrets are read on the first lookup, so a policy whose
 * images never need them costs nothing.
 */
export function pullSecretLookup(source: PullSecretSource, names: string[]): CredentialLookup {
  const secrets = [...new Set(names)].map((name) => {
    assertPullSecretName(name);
    return source.locate(name);
  });
  if (secrets.length === 0) return anonymous;
  const label = `pull secrets ${secrets.map((s) => s.label).join(', ')}`;
  let last: { parts: PullSecret[]; lookup: CredentialLookup } | undefined;
  return async (registry, repository) => {
    const parts = await Promise.all(secrets.map((s) => source.read(s.id, s.label)));
    // Rebuild only when a secret was read again (TTL, rotation); otherwise reuse the merged lookup.
    if (!last || parts.some((p, i) => p !== last!.parts[i])) {
      const merged = new Map<string, unknown>();
      for (const part of parts) if (part.kind === 'auths') for (const [key, value] of part.auths) if (!merged.has(key)) merged.set(key, value);
      const auths = dockerConfigLookup({ auths: Object.fromEntries(merged) }, label);
      const key = parts.find((p) => p.kind === 'gcp-key');
      last = { parts, lookup: async (r, repo) => (await auths(r, repo)) ?? (key && isGcpRegistry(r) ? key.credential : undefined) };
    }
    return last.lookup(registry, repository);
  };
}

function parseJson(text: string, what: string, opts: { base64?: boolean } = {}): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Kubernetes `data` values are base64; accept them as copied from `kubectl get secret -o json`.
    if (opts.base64 && /^[A-Za-z0-9+/]+={0,2}$/.test(text.trim())) {
      try {
        return JSON.parse(Buffer.from(text.trim(), 'base64').toString('utf8'));
      } catch {
        // fall through to the error below
      }
    }
    throw new SigwatchError('CONFIG', `${what} is not valid JSON${opts.base64 ? ' (nor base64 of JSON)' : ''}`);
  }
}

export interface PullSecretStoreOptions {
  client: SecretsManagerClient;
  /** The tenancy rule: the Secrets Manager id of one team's secret `name`, e.g. `secretIdUnder('sigwatch/team-a')`. */
  secretId: (name: string) => string;
  ttlMs?: number;
  now: Clock;
}

/**
 * The pull secrets of one team in Secrets Manager. Build one store per team
 * (prefix) and keep it for the life of the process, so its cache is reused
 * across verifications.
 */
export class PullSecretStore implements PullSecretSource {
  private readonly secretId: (name: string) => string;
  private readonly cache: SecretCache<PullSecret>;

  constructor(opts: PullSecretStoreOptions) {
    this.secretId = opts.secretId;
    this.cache = new SecretCache({ client: opts.client, parse: parsePullSecret, ttlMs: opts.ttlMs, now: opts.now });
  }

  locate(name: string): { id: string; label: string } {
    const id = this.secretId(name);
    return { id, label: `pull secret "${name}" (${id})` };
  }

  read(id: string, label: string): Promise<PullSecret> {
    return this.cache.get(id, label);
  }

  /** The lookup of a policy's `signaturePullSecrets` (see pullSecretLookup). */
  lookupFor(names: string[]): CredentialLookup {
    return pullSecretLookup(this, names);
  }
}

/** An AWS SDK error's name (`ResourceNotFoundException`), the only part safe and useful in a message. */
function awsErrorName(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown error';
  const code = (err as { code?: unknown }).code;
  if (err.name === 'Error' && typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code)) return code;
  return /^[A-Za-z][\w.]*$/.test(err.name) ? err.name : 'unknown error';
}
