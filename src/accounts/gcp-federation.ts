import type { CredentialLookup } from '../registry/credentials.ts';
import { GcpFederatedCredentials, isGcpRegistry, type SignedAwsRequest } from '../registry/providers/gcp.ts';
import type { HttpOptions } from '../registry/http.ts';
import type { GcpAssociation } from './types.ts';
import type { Clock } from '../clock.ts';

/**
 * The federated Google identities of a configuration's GCP associations, one
 * per pool provider and service account, kept for the life of the process so
 * that their access tokens are reused across batches (each lasts an hour).
 */

/** Where Google's APIs are reached; tests point them at 127.0.0.1. */
export interface GcpEndpoints {
  tokenUrl?: string;
  iamCredentialsUrl?: string;
  /** Base of the Artifact Registry API (`associations check` lists repositories there). */
  artifactRegistryUrl?: string;
  /** `host:port`s reached over plain HTTP (tests only). */
  insecureHosts?: readonly string[];
  http?: HttpOptions;
}

export const ARTIFACT_REGISTRY_URL = 'https://artifactregistry.googleapis.com';

export class GcpFederations {
  readonly #sign: (audience: string) => Promise<SignedAwsRequest>;
  readonly #now: Clock;
  readonly #endpoints: GcpEndpoints;
  readonly #byIdentity = new Map<string, GcpFederatedCredentials>();
  /** Per association of the configuration read (a new configuration makes new ones). */
  readonly #lookups = new WeakMap<GcpAssociation, CredentialLookup>();

  /** `sign`: a GetCallerIdentity request signed with sigwatch's own AWS credentials (callerIdentitySigner). */
  constructor(sign: (audience: string) => Promise<SignedAwsRequest>, now: Clock, endpoints: GcpEndpoints = {}) {
    this.#sign = sign;
    this.#now = now;
    this.#endpoints = endpoints;
  }

  get endpoints(): GcpEndpoints {
    return this.#endpoints;
  }

  /** The federated identity of an association (shared by every association naming the same provider and service account). */
  identity(gcp: GcpAssociation): GcpFederatedCredentials {
    const key = `${gcp.audience}|${gcp.serviceAccount ?? ''}`;
    let found = this.#byIdentity.get(key);
    if (!found) {
      found = new GcpFederatedCredentials({
        audience: gcp.audience,
        ...(gcp.serviceAccount !== undefined ? { serviceAccount: gcp.serviceAccount } : {}),
        signCallerIdentity: this.#sign,
        now: this.#now,
        ...(this.#endpoints.tokenUrl !== undefined ? { tokenUrl: this.#endpoints.tokenUrl } : {}),
        ...(this.#endpoints.iamCredentialsUrl !== undefined ? { iamCredentialsUrl: this.#endpoints.iamCredentialsUrl } : {}),
        ...(this.#endpoints.insecureHosts ? { insecureHosts: this.#endpoints.insecureHosts } : {}),
        ...(this.#endpoints.http ? { http: this.#endpoints.http } : {}),
      });
      this.#byIdentity.set(key, found);
    }
    return found;
  }

  /**
   * Credentials for the association's own projects' registries only
   * (`LOCATION-docker.pkg.dev/PROJECT/…`, `gcr.io/PROJECT/…`): the group's
   * token is never sent to a project it was not associated with.
   */
  lookupFor(gcp: GcpAssociation): CredentialLookup {
    let lookup = this.#lookups.get(gcp);
    if (!lookup) {
      const projects = new Set(gcp.projects.map((p) => p.id));
      const identity = this.identity(gcp);
      lookup = async (registry, repository) =>
        isGcpRegistry(registry) && projects.has(repository.split('/')[0]!) ? identity.lookup(registry, repository) : undefined;
      this.#lookups.set(gcp, lookup);
    }
    return lookup;
  }
}
