import type { CredentialLookup } from '../credentials.ts';

/**
 * Assembling credential sources. The CLI and the Lambda each build one
 * lookup for the `RegistryClient` out of several providers, in order of
 * precedence: pull secrets named by the authority, then ECR, then Google,
 * then a Docker config.
 */

/**
 * The first provider that knows a credential for the repository wins; later
 * ones are not asked, so a provider that answered costs the others nothing
 * (no Secrets Manager or ECR call for an image a pull secret already covers).
 * A provider that fails ends the lookup with its error instead of falling
 * through: silently trying the next source would send a credential the
 * operator did not choose for this repository, and a verdict must fail
 * closed on a broken source rather than pull anonymously.
 */
export function chainLookups(...lookups: CredentialLookup[]): CredentialLookup {
  return async (registry, repository) => {
    for (const lookup of lookups) {
      const credential = await lookup(registry, repository);
      if (credential) return credential;
    }
    return undefined;
  };
}

/**
 * Asks `lookup` only for registries `match` accepts; for every other host the
 * answer is "no credential" without calling it. This is how a credential
 * source is kept to the registries it is meant for (a GCP key never goes to
 * another registry, whatever that registry's name looks like).
 */
export function forHosts(match: (host: string) => boolean, lookup: CredentialLookup): CredentialLookup {
  return async (registry, repository) => (match(registry) ? lookup(registry, repository) : undefined);
}
