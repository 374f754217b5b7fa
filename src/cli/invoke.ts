import { SigwatchError } from '../errors.ts';
import { MAX_INPUT_BYTES, parseIncoming } from '../events/envelope.ts';
import { StdoutNotifier } from '../notify/stdout.ts';
import { jsonLogger } from '../observability/log.ts';
import { noMetrics } from '../observability/metrics.ts';
import { LocalVerifier } from '../pipeline/local-verifier.ts';
import { handlePushBatch } from '../pipeline/on-push.ts';
import { MemoryIdempotencyStore } from '../store/idempotency.ts';
import { loadLocalConfig, mirrorFor, readCapped, type LocalConfig } from '../pipeline/local-config.ts';
import { CentralVerifier } from '../pipeline/central.ts';
import { LocalPullSecrets } from '../registry/providers/local-pull-secrets.ts';
import { pullSecretLookup } from '../registry/providers/pull-secrets.ts';
import { readConfig } from '../store/config-object.ts';
import { folderPrefixReader } from '../store/folder.ts';
import { GroupPolicies } from '../store/group-policies.ts';
import { resolve } from 'node:path';
import { formatProblem } from '../policy/problems.ts';
import { RegistryClient } from '../registry/client.ts';
import { anonymous, loadDockerConfig, type CredentialLookup } from '../registry/credentials.ts';
import type { PolicySet } from '../policy/types.ts';
import { openPolicySource } from '../store/source.ts';
import { oneOf, requirePolicies } from './args.ts';
import { INVOKE } from './commands.ts';
import { helpText, parseCommand } from './spec.ts';
import { EXIT_DENY, EXIT_OK, EXIT_USAGE } from './exit-codes.ts';
import type { Io } from './io.ts';

const HELP = helpText(INVOKE);

export async function invokeCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(INVOKE, args);
  if (values.help) {
    io.stdout(HELP);
    return EXIT_OK;
  }
  if (positionals.length !== 1) throw new SigwatchError('USAGE', `invoke takes exactly one EVENT.json, got ${positionals.length}\n${HELP}`);
  const eventFile = positionals[0]!;
  const formatFlag = values.format === undefined ? undefined : oneOf('--format', values.format, ['json', 'line'] as const, 'json');
  const { local: config, sigwatch } = await loadLocalConfig(values.config);
  if (values['pull-secrets'] !== undefined) config.pullSecrets = resolve(values['pull-secrets']);
  if (values.bucket !== undefined) {
    if (sigwatch === undefined) throw new SigwatchError('USAGE', '--bucket is for a sigwatch.yaml given with --config; a local config names its policies');
    config.bucket = resolve(values.bucket);
  }
  const format = formatFlag ?? config.notifier.format;

  let text: string;
  try {
    text = await readCapped(eventFile, MAX_INPUT_BYTES);
  } catch (err) {
    if (err instanceof SigwatchError) throw new SigwatchError('USAGE', `event file ${err.message}`);
    throw new SigwatchError('USAGE', `cannot read event file ${eventFile}: ${(err as Error).message}`);
  }
  const batch = parseIncoming(text);
  if (batch.batchError) {
    io.stderr(`sigwatch invoke: ${eventFile} is not an ECR event or an SQS batch of them: ${batch.batchError}`);
    return EXIT_USAGE;
  }
  if (batch.records.length === 0) {
    io.stderr(`sigwatch invoke: ${eventFile} holds an SQS batch with no records: nothing to verify`);
    return EXIT_USAGE;
  }

  const credentials = config.registries.config ? await loadDockerConfig(config.registries.config) : anonymous;
  const client = new RegistryClient({ credentials, insecureHosts: config.registries.insecure, now: io.now });
  const needed = batch.records.some((r) => r.parsed.ok);
  const verifier =
    sigwatch === undefined
      ? await localVerifier(config, client, needed, io)
      : await routedVerifier(config, sigwatch, values.config!, client, credentials, needed, io);
  const notifier = new StdoutNotifier({ write: (t: string) => io.stdout(t.replace(/\n$/, '')) }, format);
  const { failedMessageIds, published } = await handlePushBatch(batch, {
    verifier,
    // A local config has no topics; a sigwatch.yaml's verdicts are shown with the topic each goes to.
    publisher: { publishTo: (n, topicArn) => (sigwatch === undefined ? notifier.publish(n) : notifier.publishTo(n, topicArn)) },
    idempotency: new MemoryIdempotencyStore(),
    graceMs: 0,
    now: io.now,
    log: jsonLogger({ write: (line) => io.stderr(line), now: io.now }),
    metrics: noMetrics,
  });
  const verdicts = published.filter((n) => n.verdict !== 'error');

  const ignored = batch.records.filter((r) => !r.parsed.ok && r.parsed.ignored).length;
  const counts = { admit: 0, warn: 0, deny: 0 };
  for (const v of verdicts) if (v.verdict !== 'error') counts[v.verdict]++;
  const parts = [`${verdicts.length} verdict${verdicts.length === 1 ? '' : 's'} (${counts.admit} admit, ${counts.warn} warn, ${counts.deny} deny)`];
  if (failedMessageIds.length > 0) parts.push(`${failedMessageIds.length} record${failedMessageIds.length === 1 ? '' : 's'} failed`);
  // "Could not verify" goes to the team and the operators: counted once per image. Fail closed: exit 1.
  const unverified = new Set(published.filter((n) => n.verdict === 'error').map((n) => n.image)).size;
  if (unverified > 0) parts.push(`${unverified} could not be verified`);
  if (ignored > 0) parts.push(`${ignored} ignored`);
  io.stderr(`sigwatch invoke: ${parts.join(', ')}`);
  return counts.deny > 0 || unverified > 0 || failedMessageIds.length > 0 ? EXIT_DENY : EXIT_OK;
}

/** One policy set for every image, no routing: the local configuration alone. */
async function localVerifier(config: LocalConfig, client: RegistryClient, needed: boolean, io: Io): Promise<LocalVerifier> {
  // Policies are loaded up front (only when some record needs them), so that
  // a bad policy location or an invalid policy is a configuration error (exit
  // 2) rather than a failed record.
  let set: PolicySet | undefined;
  if (needed) {
    const loaded = await openPolicySource(config.policies).load();
    for (const p of loaded.problems) io.stderr(formatProblem(p));
    requirePolicies(loaded, config.policies);
    set = loaded;
  }
  const folder = config.pullSecrets === undefined ? undefined : new LocalPullSecrets(config.pullSecrets);
  return new LocalVerifier({
    policies: async () => set ?? Promise.reject(new SigwatchError('INTERNAL', 'policies were not loaded')),
    registry: (ref, pullSecrets) => {
      const endpoint = mirrorFor(config, ref.registry);
      // Pull secrets are the deployed ones, keyed by the registries the policy names, not by a local mirror.
      const secrets = pullSecrets?.length ? (folder ? pullSecretLookup(folder, pullSecrets) : noSecretStore) : undefined;
      return client.repository({ registry: endpoint, repository: ref.repository }, secrets && ((_host, repository) => secrets(ref.registry, repository)));
    },
    noMatch: config.noMatch,
    now: io.now,
  });
}

const noSecretStore: CredentialLookup = async () => {
  throw new SigwatchError(
    'CONFIG',
    'signaturePullSecrets: no pull secrets in a local run; give --pull-secrets DIR (Kubernetes Secret manifests) or pullSecrets in the config',
  );
};

/**
 * The central verifier on a sigwatch.yaml: the image's association decides
 * its group, policies and topic, as in the deployed functions; no role is
 * assumed (registries are reached as the local section says).
 */
async function routedVerifier(
  config: LocalConfig,
  text: string,
  where: string,
  client: RegistryClient,
  credentials: CredentialLookup,
  needed: boolean,
  io: Io,
): Promise<CentralVerifier> {
  // Parsed up front, as strictly as the functions do (with inline ExternalIds allowed: this is a local file), so a bad configuration is exit 2.
  const loaded = readConfig(text, where, { allowInlineExternalId: true });
  const bucket = config.bucket!;
  const read = folderPrefixReader(bucket);
  if (needed) {
    const prefixes = [...new Set([...loaded.config.groups.values()].map((g) => g.policyPrefix))].sort();
    const files = (await Promise.all(prefixes.map(read))).flat();
    if (files.length === 0) {
      throw new SigwatchError(
        'CONFIG',
        `no policies in ${bucket} under any group's policyPrefix (${prefixes.join(', ')}); give --bucket DIR, the folder laid out as the config bucket`,
      );
    }
  }
  const folder = config.pullSecrets;
  return new CentralVerifier({
    config: { load: async () => loaded },
    policies: new GroupPolicies(read),
    registry: client,
    endpoint: (host) => mirrorFor(config, host),
    // registries.config is looked up by the host contacted, as in a local config.
    otherCredentials: (host, repository) => credentials(mirrorFor(config, host), repository),
    ...(folder !== undefined ? { pullSecrets: (prefix: string) => LocalPullSecrets.forPrefix(folder, prefix) } : {}),
    now: io.now,
  });
}
