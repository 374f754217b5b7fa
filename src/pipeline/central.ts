import type { ECRClient } from '@aws-sdk/client-ecr';
import type { Clock } from '../clock.ts';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { TrustMaterial } from '@sigstore/verify';
import type { GcpFederations } from '../accounts/gcp-federation.ts';
import type { AccountDirectory, KnownAccount } from '../accounts/groups.ts';
import { AssumeRoleError, type AwsCredentials, type SessionPurpose } from '../accounts/sts.ts';
import type { AccountConfig, Association, SigwatchConfig } from '../accounts/types.ts';
import { withinDeadline } from '../deadline.ts';
import { reasonOf, SigwatchError } from '../errors.ts';
import type { ImageRef } from '../registry/reference.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { CredentialLookup } from '../registry/credentials.ts';
import { chainLookups } from '../registry/providers/chain.ts';
import { EcrCredentialProvider, ecrRegistry } from '../registry/providers/ecr.ts';
import { pullSecretLookup, PullSecretStore, secretIdUnder, type PullSecretSource } from '../registry/providers/pull-secrets.ts';
import { parseImageTarget } from '../registry/target.ts';
import type { Repository } from '../registry/types.ts';
import type { LoadedConfig, ConfigSource } from '../store/config-object.ts';
import type { GroupPolicies, GroupPolicySet } from '../store/group-policies.ts';
import type { AwsKmsKey, KmsKeyResolver } from '../trust/kms.ts';
import type { TrustRootResolver } from '../trust/trust-roots.ts';
import type { PublicKey } from '../trust/keys.ts';
import type { SecretKeyStore } from '../trust/secret-keys.ts';
import type { Audience, BatchVerifier, ImageCheck, ImageVerifier, OwnedImage } from './image-check.ts';
import { manifestExists, manifestSubject } from './subject.ts';

/** verifyImage and what only it uses (sigstore, trust roots, keys): imported on the first record verified. */
export type VerificationModule = typeof import('./verification.ts');

/**
 * The verifier of the central account: whose image it is (the associations),
 * how to read it (the account's role, assumed with its ExternalId; ECR pull
 * tokens and KMS keys through that role; the group's pull secrets; its GCP
 * projects' registries through workload identity federation), and which
 * policies judge it (the group's and its ancestors'). Everything that talks to
 * AWS is passed in, so tests and local runs assemble it with other adapters.
 */

/** The part of AwsSessions this step uses. */
export interface RoleSessions {
  credentialsFor(association: Association, account: AccountConfig, purpose?: SessionPurpose): Promise<AwsCredentials>;
}

export interface CentralVerifierDeps {
  config: ConfigSource;
  policies: GroupPolicies;
  /** Member-account credentials for a configuration; absent in a local run, where registries are reached as configured instead. */
  sessions?: (config: SigwatchConfig) => RoleSessions;
  /** An ECR API client for a region with the given credentials. */
  ecrClient?: (region: string, credentials: AwsCredentials, options: { fips: boolean }) => ECRClient;
  /**
   * A KMS client for a region; credentials undefined means sigwatch's own (a key in the central account).
   * `endpoint` (`HOST:PORT`) is the reference's own, only ever one the operator allowed (`kmsEndpoints`).
   */
  kmsClient?: (region: string, credentials: AwsCredentials | undefined, endpoint?: string) => KMSClient | Promise<KMSClient>;
  /** `awskms://` endpoints besides AWS's own that KMS requests may go to (SIGWATCH_KMS_ENDPOINTS). */
  kmsEndpoints?: readonly string[];
  /** Secrets Manager in the central account (pull secrets and secretRef keys). */
  secrets?: SecretsManagerClient;
  /** Where a group's pull secrets are read instead of Secrets Manager, by its `secretsPrefix` (a local run's folder of Secret manifests). */
  pullSecrets?: (secretsPrefix: string) => PullSecretSource;
  /** The process's registry client (connection reuse, token cache). */
  registry: RegistryClient;
  /** Where to connect for a registry host (tests and local runs point ECR hosts at a local registry). */
  endpoint?: (host: string) => string;
  /** Keyless trust material for authorities without trustRootRef (the shipped public-good root by default). */
  trust?: () => TrustMaterial;
  /** Google identities for groups with GCP projects (workload identity federation from sigwatch's AWS role). */
  gcp?: GcpFederations;
  /** Credentials for registries other than ECR (a local run's Docker config). */
  otherCredentials?: CredentialLookup;
  /** Repositories served from somewhere other than a registry (the demo's OCI layout); undefined for a real one. */
  localRepository?: (host: string, repository: string) => Repository | undefined;
  /** The composition's clock: when ECR tokens, cached secrets and TUF trust roots expire. */
  now: Clock;
  /** How the verification code is loaded: `import('./verification.ts')` unless a test says otherwise. */
  loadVerification?: () => Promise<VerificationModule>;
}

/** The verification code, with the process-wide caches that live in it (TUF trust roots, KMS keys). */
interface Verification {
  module: VerificationModule;
  trustRoots: TrustRootResolver;
  kms: KmsKeyResolver;
}

export class CentralVerifier implements ImageVerifier {
  readonly #deps: CentralVerifierDeps;
  /** The directory of the last configuration read, for the process-wide token and key caches. */
  #directory: AccountDirectory | undefined;
  #sessions: RoleSessions | undefined;
  readonly #ecr: EcrCredentialProvider;
  #verification: Promise<Verification> | undefined;
  readonly #pullSecrets = new Map<string, PullSecretSource>();
  readonly #keySecrets = new Map<string, SecretKeyStore>();

  constructor(deps: CentralVerifierDeps) {
    this.#deps = deps;
    this.#ecr = new EcrCredentialProvider({
      now: deps.now,
      clientFor: async (account, region, { fips }) => {
        const { ecrClient } = this.#deps;
        if (!this.#sessions || !ecrClient) throw new SigwatchError('CONFIG', `no ECR access configured for account ${account}`);
        return ecrClient(region, await this.#credentials(account), { fips });
      },
    });
  }

  /**
   * The verification code, imported the first time a record gets as far as
   * being verified, so that a cold start does not compile sigstore. A failed
   * import is not kept: the next record tries again.
   */
  #loadVerification(): Promise<Verification> {
    const load = this.#deps.loadVerification ?? (() => import('./verification.ts'));
    this.#verification ??= load().then(
      (module) => ({
        module,
        trustRoots: new module.TrustRootResolver({ now: this.#deps.now }),
        kms: new module.KmsKeyResolver(
          async (key: AwsKmsKey) => {
            if (!this.#deps.kmsClient) throw new SigwatchError('CONFIG', `KMS key ${key.arn}: no KMS access configured`);
            // A key in a member account is read through that account's role; any other with sigwatch's own.
            const known = this.#directory?.accountById(key.account);
            return this.#deps.kmsClient(key.region, known ? await this.#credentials(key.account) : undefined, key.endpoint || undefined);
          },
          { allowedEndpoints: this.#deps.kmsEndpoints ?? [] },
        ),
      }),
      (err: unknown) => {
        this.#verification = undefined;
        throw new SigwatchError('INTERNAL', `cannot load the verification code: ${reasonOf(err)}`, { cause: err });
      },
    );
    return this.#verification;
  }

  async beginBatch(): Promise<BatchVerifier> {
    const loaded = await this.#deps.config.load();
    this.#directory = loaded.directory;
    this.#sessions = this.#deps.sessions?.(loaded.config);
    const policySets = this.#deps.policies.scope(loaded.directory);
    return {
      operatorsTopicArn: loaded.config.operators.topicArn,
      check: (image, signal) => this.#check(loaded, policySets, image, signal),
      referrerSubject: (image, signal) => this.#referrerSubject(loaded, image, signal),
      resolveTag: async (image, tag, signal) => {
        const owner = loaded.directory.resolve(image);
        if (!owner.known)
          throw new SigwatchError('CONFIG', `${image.registry}/${image.repository}:${tag}: ${owner.reason}; no role is assumed to resolve its tag`);
        return this.#repository(owner, image, [], signal).resolve(tag);
      },
      exists: async (image, signal) => {
        const owner = loaded.directory.resolve(image);
        // An image of no association is judged (as an error) without touching its registry.
        return !owner.known || manifestExists(this.#repository(owner, image, [], signal), image.digest);
      },
    };
  }

  async #check(
    loaded: LoadedConfig,
    policySets: (group: string) => Promise<GroupPolicySet>,
    image: OwnedImage,
    signal: AbortSignal | undefined,
  ): Promise<ImageCheck> {
    const owner = loaded.directory.resolve(image);
    if (!owner.known) return { kind: 'unowned', reason: owner.reason };
    const audience = audienceOf(owner);
    // Loaded before the policies: it holds the code that parses and matches them too.
    let verification: Verification;
    try {
      verification = await this.#loadVerification();
    } catch (err) {
      // A function whose own code cannot load will not verify this image on a retry either: an `error`, with the code, for the team and the operators.
      return { kind: 'error', audience, reason: reasonOf(err), code: err instanceof SigwatchError ? err.code : 'INTERNAL' };
    }
    const { module: verify } = verification;
    let policies: GroupPolicySet;
    try {
      policies = await withinDeadline(policySets(owner.group.path), signal, `the policies of group ${owner.group.path}`);
    } catch (err) {
      // An invalid policy is a fact to report; S3 failing is a reason to try again.
      if (err instanceof SigwatchError && err.code === 'POLICY_INVALID') {
        return { kind: 'error', audience, reason: `the policies of group ${owner.group.path} are invalid: ${reasonOf(err)}` };
      }
      throw err;
    }
    try {
      // Assumed before verifying, so that a role refusing sigwatch is reported as such, not as a deny.
      // A shared session cannot be cancelled for one record: it is raced against the record's deadline.
      if (this.#sessions)
        await withinDeadline(
          this.#sessions.credentialsFor(owner.association, owner.account, { image: reference(image) }),
          signal,
          `a session in account ${owner.account.id}`,
        );
    } catch (err) {
      if (err instanceof AssumeRoleError && err.code === 'CONFIG') return { kind: 'error', audience, reason: err.message };
      throw err;
    }
    const target = parseImageTarget(reference(image));
    // What the policies asked of another team's accounts, and were refused: said in the verdict.
    const withheld = new Set<string>();
    const verdict = await verify.verifyImage(
      target,
      (name, literal) => verify.policiesMatching(policies.set, name, { literal }),
      {
        registry: (ref, pullSecrets) => this.#repository(owner, ref, pullSecrets, signal, withheld),
        trust: this.#deps.trust,
        trustRoots: policies.set.trustRoots,
        trustRootResolver: verification.trustRoots,
        kmsKey: (kms) => this.#kmsKey(verification, owner, kms),
        secretKey: (name) => this.#secretKey(verification.module, owner, name),
        policyEvaluator: verify.defaultPolicyEvaluator(this.#deps.now),
      },
      { noMatch: loaded.config.defaults.noMatch, ...(signal ? { signal } : {}) },
    );
    for (const w of withheld) verdict.reasons.push(`no credentials used for ${w}`);
    return { kind: 'verdict', verdict, audience, policySetVersion: policies.version };
  }

  async #referrerSubject(loaded: LoadedConfig, image: OwnedImage, signal: AbortSignal | undefined): Promise<string | undefined> {
    const owner = loaded.directory.resolve(image);
    if (!owner.known) return undefined;
    return manifestSubject(this.#repository(owner, image, [], signal), image.digest);
  }

  /**
   * A repository reached at its endpoint, with credentials looked up by its
   * real host: the group's pull secrets, ECR tokens of accounts whose
   * association serves the owner's group (any other ECR registry is read
   * anonymously, and `withheld` says why), the group's GCP projects.
   */
  #repository(
    owner: KnownAccount,
    ref: Pick<ImageRef, 'registry' | 'repository'>,
    pullSecrets: string[] = [],
    signal?: AbortSignal,
    withheld?: Set<string>,
  ): Repository {
    const local = this.#deps.localRepository?.(ref.registry, ref.repository);
    if (local) return local;
    const lookups: CredentialLookup[] = [];
    if (pullSecrets.length > 0) lookups.push(pullSecretLookup(this.#pullSecretSource(owner), pullSecrets));
    // ECR tokens come through the account's role; a local run without sessions reaches registries as configured.
    if (this.#sessions) lookups.push(this.#ecrServing(owner, withheld));
    const gcp = this.#deps.gcp && this.#directory?.gcpFor(owner.group.path);
    if (gcp) lookups.push(this.#deps.gcp!.lookupFor(gcp));
    if (this.#deps.otherCredentials) lookups.push(this.#deps.otherCredentials);
    const lookup = chainLookups(...lookups);
    const host = ref.registry;
    const endpoint = this.#deps.endpoint?.(host) ?? host;
    return this.#deps.registry.repository(
      { registry: endpoint, repository: ref.repository },
      (_endpoint, repository) => withinDeadline(lookup(host, repository), signal, `registry credentials for ${host}`),
      signal,
    );
  }

  /** ECR tokens only for registries the owner's group is served in (`AccountDirectory.serves`). */
  #ecrServing(owner: KnownAccount, withheld: Set<string> | undefined): CredentialLookup {
    return async (host, repository) => {
      const ecr = ecrRegistry(host);
      if (!ecr) return undefined;
      const served = this.#directory?.serves(owner.group.path, { account: ecr.account, region: ecr.region, repository });
      if (!served?.ok) {
        withheld?.add(`${host}/${repository}: ${served?.reason ?? 'no sigwatch configuration is loaded'}; it was read anonymously`);
        return undefined;
      }
      return this.#ecr.lookup(host, repository);
    };
  }

  /**
   * A KMS key's public half. A key in a member account is read through that
   * account's role, and only when its association serves the owner's group;
   * a key of another team's account is refused without a call. A key in an
   * account no association names (the central account's own) is read with
   * sigwatch's role, whose IAM policy grants no KMS key unless the operator adds one.
   */
  #kmsKey(verification: Verification, owner: KnownAccount, kms: string): Promise<PublicKey> {
    const key = verification.module.parseKmsReference(kms);
    if (this.#directory?.accountById(key.account)) {
      const served = this.#directory.servesAccount(owner.group.path, key.account);
      if (!served.ok) return Promise.reject(new SigwatchError('CONFIG', `KMS key ${key.arn}: refused: ${served.reason}`));
    }
    return verification.kms.resolve(kms);
  }

  #pullSecretSource(owner: KnownAccount): PullSecretSource {
    const prefix = this.#secretsPrefix(owner, 'signaturePullSecrets');
    let store = this.#pullSecrets.get(prefix);
    if (!store) {
      store = this.#deps.pullSecrets?.(prefix) ?? new PullSecretStore({ client: this.#secrets(), secretId: secretIdUnder(prefix), now: this.#deps.now });
      this.#pullSecrets.set(prefix, store);
    }
    return store;
  }

  #secretKey(verify: VerificationModule, owner: KnownAccount, name: string): Promise<PublicKey[]> {
    const prefix = this.#secretsPrefix(owner, 'key.secretRef');
    let store = this.#keySecrets.get(prefix);
    if (!store)
      this.#keySecrets.set(prefix, (store = new verify.SecretKeyStore({ client: this.#secrets(), secretId: secretIdUnder(prefix), now: this.#deps.now })));
    return store.resolve(name);
  }

  /** A team reads only its own secrets: the group's prefix, never a name from the policy alone. */
  #secretsPrefix(owner: KnownAccount, what: string): string {
    const prefix = owner.group.secretsPrefix;
    if (!prefix) throw new SigwatchError('CONFIG', `${what}: group ${owner.group.path} has no secretsPrefix in the sigwatch configuration`);
    return prefix;
  }

  #secrets(): SecretsManagerClient {
    if (!this.#deps.secrets) throw new SigwatchError('CONFIG', 'no Secrets Manager access configured');
    return this.#deps.secrets;
  }

  /** Credentials of an associated account; an account the configuration does not associate gets none. */
  async #credentials(account: string): Promise<AwsCredentials> {
    const found = this.#directory?.accountById(account);
    if (!found) throw new SigwatchError('CONFIG', `account ${account} is not associated with any group: sigwatch assumes no role there`);
    if (!this.#sessions) throw new SigwatchError('CONFIG', `no AWS sessions configured for account ${account}`);
    return this.#sessions.credentialsFor(found.association, found.account);
  }
}

function audienceOf(owner: KnownAccount): Audience {
  return { group: owner.group.path, ...(owner.group.team !== undefined ? { team: owner.group.team } : {}), topicArn: owner.group.topicArn };
}

function reference(image: OwnedImage): string {
  return `${image.registry}/${image.repository}@${image.digest}`;
}
