import type { Verdict } from '../verify/verdict.ts';
import type { ImageTarget } from '../registry/target.ts';
import { verifyImage, type PolicySelector, type VerifyDeps, type VerifyOptions } from '../verify/verify-image.ts';

/**
 * Many images at once (a re-verification batch, a benchmark): verification is
 * mostly waiting on the registry, so images are verified concurrently, up to a
 * bound that keeps the HTTP client's sockets (and the registry) from being
 * flooded. Verdicts come back in the order of the targets.
 */

/**
 * Enough in flight to hide a registry's latency (each image is 2–3 sequential
 * round trips), few enough that CPU-bound keyless checks on a 2-vCPU Lambda do
 * not queue behind each other for long; measured in bench/run.ts.
 */
export const DEFAULT_CONCURRENCY = 16;

export async function verifyImages(
  targets: readonly ImageTarget[],
  select: PolicySelector,
  deps: VerifyDeps,
  opts: VerifyOptions & { concurrency?: number } = {},
): Promise<Verdict[]> {
  const verdicts = new Array<Verdict>(targets.length);
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const i = next++;
      verdicts[i] = await verifyImage(targets[i]!, select, deps, opts);
    }
  };
  const width = Math.max(1, Math.min(opts.concurrency ?? DEFAULT_CONCURRENCY, targets.length));
  await Promise.all(Array.from({ length: width }, worker));
  return verdicts;
}
