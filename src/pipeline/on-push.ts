import { reasonOf } from '../errors.ts';
import { signatureSubject } from '../events/ecr.ts';
import type { IncomingBatch } from '../events/envelope.ts';
import type { PushEvent } from '../events/types.ts';
import type { PolicySet } from '../policy/types.ts';
import type { Verdict } from '../policy/verdict.ts';
import type { ImageRef } from '../registry/reference.ts';
import { parseImageTarget } from '../registry/target.ts';
import type { Repository } from '../registry/types.ts';
import { policiesMatching } from '../store/policy-set.ts';
import { verifyImage, type VerifyOptions } from './verify-image.ts';

export interface OnPushDeps {
  /** The current policy set; called once per batch (stores cache across invocations). */
  policies(): Promise<PolicySet>;
  registry: (ref: ImageRef, pullSecrets?: string[]) => Repository;
  /** Hands a verdict to the notify step; a throw sends the record back for retry. */
  publish(verdict: Verdict, event: PushEvent): Promise<void>;
  log(entry: Record<string, unknown>): void;
  options?: VerifyOptions;
}

/**
 * Verifies the image behind each event of a batch. A record fails (and is
 * retried, then dead-lettered) only when it is malformed or its verdict could
 * not be delivered; a verification error is itself a deny verdict.
 */
export async function handlePushBatch(batch: IncomingBatch, deps: OnPushDeps): Promise<{ failedMessageIds: string[] }> {
  const failed: string[] = [];
  // One policy load per batch, shared by its records (and none for a batch of rejects).
  let loaded: Promise<PolicySet> | undefined;
  const policySet = () => (loaded ??= deps.policies());
  if (batch.batchError) deps.log({ level: 'error', message: 'unusable batch', reason: batch.batchError });
  await Promise.all(
    batch.records.map(async (record) => {
      const id = record.messageId ?? '';
      const parsed = record.parsed;
      if (!parsed.ok) {
        deps.log({ level: parsed.ignored ? 'info' : 'error', message: parsed.ignored ? 'event ignored' : 'event rejected', messageId: id, reason: parsed.reason });
        if (!parsed.ignored) failed.push(id);
        return;
      }
      try {
        const verdict = await verifyEvent(parsed.event, policySet, deps);
        if (verdict) await deps.publish(verdict, parsed.event);
      } catch (err) {
        deps.log({ level: 'error', message: 'verdict not delivered', messageId: id, image: parsed.event.imageReference, reason: reasonOf(err) });
        failed.push(id);
      }
    }),
  );
  return { failedMessageIds: failed };
}

async function verifyEvent(event: PushEvent, policySet: () => Promise<PolicySet>, deps: OnPushDeps): Promise<Verdict | undefined> {
  // A new or deleted signature changes its subject's verdict, not its own.
  const subject = signatureSubject(event);
  if (event.action === 'DELETE' && !subject) return undefined;
  const digest = subject?.digest ?? event.digest;
  const target = parseImageTarget(`${event.registry}/${event.repository}@${digest}`);
  const set = await policySet();
  return verifyImage(target, (name, literal) => policiesMatching(set, name, { literal }), { registry: deps.registry, trustRoots: set.trustRoots }, deps.options);
}
