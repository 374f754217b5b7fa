import { isUnavailable, SigwatchError } from '../errors.ts';
import { defaultPolicyEvaluator } from '../verify/policy-engines/evaluate.ts';
import { verifyImage } from '../verify/verify-image.ts';
import { RegistryClient } from '../registry/client.ts';
import { anonymous, loadDockerConfig } from '../registry/credentials.ts';
import { parseImageTarget } from '../registry/target.ts';
import { openPolicySource } from '../store/source.ts';
import { policiesMatching } from '../store/policy-set.ts';
import { formatProblem } from '../policy/problems.ts';
import type { CredentialLookup } from '../registry/credentials.ts';
import { chainLookups } from '../registry/providers/chain.ts';
import type { PullSecretStore } from '../registry/providers/pull-secrets.ts';
import type { PublicKey } from '../trust/keys.ts';
import type { KmsKeyResolver } from '../trust/kms.ts';
import type { SecretKeyStore } from '../trust/secret-keys.ts';
import { loadTrustedRootFile } from '../trust/trusted-root.ts';
import { TrustRootResolver } from '../trust/trust-roots.ts';
import { insecureRegistries, kmsEndpoints, oneOf, parseDuration, requirePolicies } from './args.ts';
import { VERIFY } from './commands.ts';
import { helpText, parseCommand } from './spec.ts';
import { deadline, withinDeadline } from '../deadline.ts';
import type { Verdict } from '../verify/verdict.ts';
import { formatVerdictText } from './format.ts';
import { EXIT_DENY, EXIT_OK } from './exit-codes.ts';
import type { Io } from './io.ts';
import { fixedClock, type Clock } from '../clock.ts';

const HELP = helpText(VERIFY);

export async function verifyCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(VERIFY, args);
  if (values.help) {
    io.stdout(HELP);
    return EXIT_OK;
  }
  if (positionals.length !== 1) throw new SigwatchError('USAGE', `verify takes exactly one IMAGE, got ${positionals.length}\n${HELP}`);
  if (!values.policies) throw new SigwatchError('USAGE', `verify needs --policies PATH\n${HELP}`);
  const format = oneOf('--format', values.format, ['text', 'json'] as const, 'text');
  const insecure = insecureRegistries(values['insecure-registry']);
  const noMatch = oneOf('--no-match', values['no-match'], ['deny', 'allow', 'warn'] as const, 'deny');
  const now = values.at === undefined ? io.now : fixedClock(parseAt(values.at));
  const timeoutMs = parseDuration('--timeout', values.timeout ?? DEFAULT_TIMEOUT);
  // Counted from the process's start: loading the code and the policies (from S3 too) is within the deadline.
  const startedAt = io.startedAt ?? performance.now();
  const left = Math.max(0, timeoutMs - (performance.now() - startedAt));
  const signal = deadline(left, undefined, { budgetMs: timeoutMs, startedAt });
  const backstop = deadline(left + REPORT_GRACE_MS, undefined, { budgetMs: timeoutMs, startedAt });
  const trust = values['trusted-root'] === undefined ? undefined : await loadTrustedRootFile(values['trusted-root']);

  const target = parseTargetOrUsage(positionals[0]!, values.as);
  const set = await openPolicySource(values.policies, { skipInvalid: values['skip-invalid'] }).load();
  for (const p of set.problems) io.stderr(formatProblem(p));
  requirePolicies(set, values.policies);

  const credentials = values['registry-config'] ? await loadDockerConfig(values['registry-config']) : anonymous;
  // One image: its few requests queue on one connection per registry rather than open more. Over a WAN a
  // request waiting its turn on a warm connection is answered sooner than one that first shakes hands anew.
  const client = new RegistryClient({ credentials, insecureHosts: insecure, now, connectionsPerOrigin: 1 });
  const secrets = teamSecrets(values['secrets-prefix'], values['pull-secrets'], now);
  const verifying = verifyImage(
    target,
    (name, literal) => policiesMatching(set, name, { literal }),
    {
      registry: (ref, names) => client.repository(ref, names?.length ? chainLookups(secrets.pullSecrets(names), client.defaultCredentials) : undefined, signal),
      trust: trust && (() => trust),
      trustRoots: set.trustRoots,
      trustRootResolver: new TrustRootResolver({ now }),
      kmsKey: localKmsKeys(kmsEndpoints(values['kms-endpoint'])),
      secretKey: secrets.key,
      policyEvaluator: defaultPolicyEvaluator(now),
    },
    { noMatch, signal },
  );
  const verdict = await pastDeadline(verifying, target.input, backstop);

  io.stdout(format === 'json' ? JSON.stringify(verdict) : formatVerdictText(verdict));
  return verdict.verdict === 'deny' ? EXIT_DENY : EXIT_OK;
}

/** Default of `--timeout`: well past a healthy registry's seconds, well short of a user giving up. */
const DEFAULT_TIMEOUT = '60s';
/** How long past its deadline a verification may take to say what was waiting, before it is cut short. */
const REPORT_GRACE_MS = 500;

/**
 * The verification, or, when something it waits on ignores the deadline (a
 * cloud SDK call), a deny at the deadline: the command ends on time either way.
 */
async function pastDeadline(verifying: Promise<Verdict>, image: string, backstop: AbortSignal): Promise<Verdict> {
  try {
    return await withinDeadline(verifying, backstop, 'the verification');
  } catch (err) {
    if (!isUnavailable(err)) throw err;
    return { image, digest: '', verdict: 'deny', policies: [], reasons: [err.message], error: { code: err.code, message: err.message } };
  }
}

/** RFC 3339 with a time zone, as `--at` promises; Date.parse alone would also take "2026" or a local time. */
function parseAt(at: string): number {
  const ms = RFC3339.test(at) ? Date.parse(at) : NaN;
  if (Number.isNaN(ms)) throw new SigwatchError('USAGE', `--at must be an RFC 3339 time such as 2026-01-31T12:00:00Z, got "${at}"`);
  return ms;
}
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function parseTargetOrUsage(input: string, as: string | undefined) {
  try {
    return parseImageTarget(input, { as });
  } catch (err) {
    throw new SigwatchError('USAGE', (err as Error).message);
  }
}

/**
 * KMS keys with this machine's AWS credentials (the default chain), in the
 * key's own region, at AWS's own endpoints or one `--kms-endpoint` allows (a
 * policy's author must not choose where this machine's signed requests go).
 * The SDK is loaded only when a policy names a KMS key.
 */
function localKmsKeys(allowedEndpoints: string[]): (kms: string) => Promise<PublicKey> {
  let resolver: Promise<KmsKeyResolver> | undefined;
  return async (kms) => {
    resolver ??= Promise.all([import('../trust/kms.ts'), import('@aws-sdk/client-kms')]).then(
      ([{ KmsKeyResolver }, { KMSClient }]) =>
        new KmsKeyResolver(async (key) => new KMSClient({ region: key.region, ...(key.endpoint ? { endpoint: `https://${key.endpoint}` } : {}) }), {
          allowedEndpoints,
        }),
    );
    return (await resolver).resolve(kms);
  };
}

/**
 * The secrets policies name (pull secrets, key secrets), read from Secrets
 * Manager under the operator's prefix with the SDK loaded on first use. Naming
 * a secret with no prefix configured fails the authority: never a silent
 * anonymous fallback or a skipped key.
 */
function teamSecrets(prefix: string | undefined, pullSecretsDir: string | undefined, now: Clock) {
  const missing = (what: string) =>
    new SigwatchError(
      'CONFIG',
      `${what}: no secrets store configured (--secrets-prefix${what.startsWith('signaturePullSecrets') ? ' or --pull-secrets DIR' : ''})`,
    );
  // A folder of manifests stands in for the pull secrets; key secrets still come from Secrets Manager.
  const local =
    pullSecretsDir === undefined
      ? undefined
      : Promise.all([import('../registry/providers/local-pull-secrets.ts'), import('../registry/providers/pull-secrets.ts')]).then(
          ([{ LocalPullSecrets }, { pullSecretLookup }]) => {
            const folder = new LocalPullSecrets(pullSecretsDir);
            return (names: string[]) => pullSecretLookup(folder, names);
          },
        );
  let stores: Promise<{ pull: PullSecretStore; keys: SecretKeyStore }> | undefined;
  const open = () => {
    if (prefix === undefined) return undefined;
    stores ??= Promise.all([
      import('../registry/providers/pull-secrets.ts'),
      import('../trust/secret-keys.ts'),
      import('@aws-sdk/client-secrets-manager'),
    ]).then(([{ PullSecretStore, secretIdUnder }, { SecretKeyStore }, { SecretsManagerClient }]) => {
      const client = new SecretsManagerClient({});
      const secretId = secretIdUnder(prefix);
      return { pull: new PullSecretStore({ client, secretId, now }), keys: new SecretKeyStore({ client, secretId, now }) };
    });
    return stores;
  };
  return {
    pullSecrets:
      (names: string[]): CredentialLookup =>
      async (registry, repository) => {
        if (local) return (await local)(names)(registry, repository);
        const s = await open();
        if (!s) throw missing(`signaturePullSecrets ${names.join(', ')}`);
        return s.pull.lookupFor(names)(registry, repository);
      },
    key: async (name: string): Promise<PublicKey[]> => {
      const s = await open();
      if (!s) throw missing(`key.secretRef ${name}`);
      return s.keys.resolve(name);
    },
  };
}
