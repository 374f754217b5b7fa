import { SigwatchError } from '../errors.ts';
import { MAX_INPUT_BYTES, parseIncoming } from '../events/envelope.ts';
import { StdoutNotifier } from '../notify/stdout.ts';
import { jsonLogger } from '../observability/log.ts';
import { noMetrics } from '../observability/metrics.ts';
import { LocalVerifier } from '../pipeline/local-verifier.ts';
import { handlePushBatch } from '../pipeline/on-push.ts';
import { MemoryIdempotencyStore } from '../store/idempotency.ts';
import { loadLocalConfig, mirrorFor, readCapped } from '../pipeline/local-config.ts';
import { formatProblem } from '../policy/problems.ts';
import { RegistryClient } from '../registry/client.ts';
import { anonymous, loadDockerConfig, type CredentialLookup } from '../registry/credentials.ts';
import type { PolicySet } from '../policy/types.ts';
import { openPolicySource } from '../store/source.ts';
import { oneOf, parseCommandArgs } from './args.ts';
import { EXIT_DENY, EXIT_OK, EXIT_USAGE, type Io } from './main.ts';

const HELP = `usage: sigwatch invoke EVENT.json [--config FILE] [--format json|line]

Runs the on-push handler locally on an EventBridge "ECR Image Action" event
(or an SQS batch of them) and prints the notification it would publish.

options:
  --config FILE        local config (YAML or JSON): policies, noMatch, registries
                       (mirror, insecure, config), notifier.format; see docs/invoke.md
                       (default: policies ./policies, registries as named, json output)
  --format json|line   output format; overrides notifier.format

Notifications go to stdout; log entries (JSON lines) and rejected or ignored
records go to stderr.

exit codes: 0 every verdict admit or warn, 1 any deny, any image that could
not be verified, a rejected record or an undeliverable verdict, 2 usage or configuration error (bad flags, unreadable
or unusable event file, invalid config)`;

export async function invokeCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs('invoke', args, {
    config: { type: 'string' },
    format: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(HELP);
    return EXIT_OK;
  }
  if (positionals.length !== 1) throw new SigwatchError('USAGE', `invoke takes exactly one EVENT.json, got ${positionals.length}\n${HELP}`);
  const eventFile = positionals[0]!;
  const formatFlag = values.format === undefined ? undefined : oneOf('--format', values.format, ['json', 'line'] as const, 'json');
  const config = await loadLocalConfig(values.config);
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

  // Policies are loaded up front (only when some record needs them), so that
  // a bad policy location or an invalid policy is a configuration error (exit
  // 2) rather than a failed record.
  let set: PolicySet | undefined;
  if (batch.records.some((r) => r.parsed.ok)) {
    const loaded = await openPolicySource(config.policies).load();
    for (const p of loaded.problems) io.stderr(formatProblem(p));
    set = loaded;
  }

  const credentials = config.registries.config ? await loadDockerConfig(config.registries.config) : anonymous;
  const client = new RegistryClient({ credentials, insecureHosts: config.registries.insecure, now: io.now });
  const noSecretStore: CredentialLookup = async () => {
    throw new SigwatchError('CONFIG', 'signaturePullSecrets: no secrets store in a local run; put the credentials in registries.config');
  };
  const notifier = new StdoutNotifier({ write: (t: string) => io.stdout(t.replace(/\n$/, '')) }, format);
  const { failedMessageIds, published } = await handlePushBatch(batch, {
    verifier: new LocalVerifier({
      policies: async () => set ?? Promise.reject(new SigwatchError('INTERNAL', 'policies were not loaded')),
      registry: (ref, pullSecrets) =>
        client.repository({ registry: mirrorFor(config, ref.registry), repository: ref.repository }, pullSecrets?.length ? noSecretStore : undefined),
      noMatch: config.noMatch,
      now: io.now,
    }),
    publisher: { publishTo: (n) => notifier.publish(n) },
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
