import type { PolicySet } from '../policy/types.ts';
import { TrustRootResolver } from '../trust/trust-roots.ts';
import type { ImageRef } from '../registry/reference.ts';
import { parseImageTarget } from '../registry/target.ts';
import type { Repository } from '../registry/types.ts';
import { policiesMatching } from '../store/policy-set.ts';
import type { NoMatchBehaviour } from '../policy/types.ts';
import type { Audience, BatchVerifier, ImageVerifier, OwnedImage } from './image-check.ts';
import { manifestExists, manifestSubject } from './subject.ts';
import { defaultPolicyEvaluator } from '../verify/policy-engines/evaluate.ts';
import { verifyImage } from '../verify/verify-image.ts';
import type { Clock } from '../clock.ts';

/**
 * The verifier of a local run without associations (`sigwatch invoke` with a
 * policies path): one policy set for every image, registries reached as the
 * local config says, verdicts printed rather than routed.
 */

const LOCAL_TOPIC = 'stdout';
const AUDIENCE: Audience = { group: 'local', topicArn: LOCAL_TOPIC };

export interface LocalVerifierDeps {
  /** Loaded once per batch. */
  policies: () => Promise<PolicySet & { version?: string }>;
  registry: (ref: Pick<ImageRef, 'registry' | 'repository'>, pullSecrets?: string[]) => Repository;
  noMatch: NoMatchBehaviour;
  /** When TUF trust roots expire. */
  now: Clock;
}

export class LocalVerifier implements ImageVerifier {
  readonly #deps: LocalVerifierDeps;
  readonly #trustRoots: TrustRootResolver;

  constructor(deps: LocalVerifierDeps) {
    this.#deps = deps;
    this.#trustRoots = new TrustRootResolver({ now: deps.now });
  }

  async beginBatch(): Promise<BatchVerifier> {
    const set = await this.#deps.policies();
    const version = Object.entries(set.versions)
      .sort()
      .map(([f, v]) => `${f}@${v}`)
      .join(',');
    return {
      operatorsTopicArn: LOCAL_TOPIC,
      check: async (image: OwnedImage) => {
        const verdict = await verifyImage(
          parseImageTarget(`${image.registry}/${image.repository}@${image.digest}`),
          (name, literal) => policiesMatching(set, name, { literal }),
          {
            registry: this.#deps.registry,
            trustRoots: set.trustRoots,
            trustRootResolver: this.#trustRoots,
            policyEvaluator: defaultPolicyEvaluator(this.#deps.now),
          },
          { noMatch: this.#deps.noMatch },
        );
        return { kind: 'verdict', verdict, audience: AUDIENCE, policySetVersion: version };
      },
      referrerSubject: (image: OwnedImage) => manifestSubject(this.#deps.registry(image), image.digest),
      resolveTag: (image, tag) => this.#deps.registry(image).resolve(tag),
      exists: (image: OwnedImage) => manifestExists(this.#deps.registry(image), image.digest),
    };
  }
}
