import { TrustRootResolver } from '../../src/trust/trust-roots.ts';
import { testNow } from './clock.ts';

/** A resolver of `trustRootRef` on the tests' clock (a fresh cache per call). */
export function testTrustRoots(): TrustRootResolver {
  return new TrustRootResolver({ now: testNow });
}
