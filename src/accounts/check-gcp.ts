import { SigwatchError } from '../errors.ts';
import { isObject } from '../json.ts';
import type { GcpFederatedCredentials } from '../registry/providers/gcp.ts';
import { ARTIFACT_REGISTRY_URL, type GcpFederations } from './gcp-federation.ts';
import type { GcpAssociation, GcpProject } from './types.ts';

/**
 * Does each GCP association work? For every association at or below a group:
 * exchange sigwatch's AWS identity for a Google token at Google STS, impersonate
 * the service account when one is named, and list one repository of Artifact
 * Registry in each of the project's locations with the token the functions
 * would use. Chainguard's `chainctl iam account-associations check gcp`
 * answers the same question for Enforce. Nothing here prints.
 */

export type GcpCheckName = 'token-exchange' | 'impersonation' | 'artifact-registry-list';

/** In the order they run: a failed step skips the ones after it. */
export const GCP_CHECKS: readonly GcpCheckName[] = ['token-exchange', 'impersonation', 'artifact-registry-list'];

export interface GcpCheckStep {
  check: GcpCheckName;
  /** `not-applicable`: impersonation when the association names no service account. */
  status: 'ok' | 'failed' | 'skipped' | 'not-applicable';
  /** What was found or what is missing; never a token or Google's own message. */
  detail: string;
}

export interface ProjectLocationCheck {
  group: string;
  project: string;
  location: string;
  audience: string;
  serviceAccount?: string;
  ok: boolean;
  steps: GcpCheckStep[];
}

export interface GcpCheckTarget {
  group: string;
  gcp: GcpAssociation;
  /** The association's projects selected (all of them unless one was asked for). */
  projects: readonly GcpProject[];
}

/** A repositories list is a few hundred bytes per repository; one is asked for. */
const MAX_LIST_BYTES = 256 * 1024;

export async function checkGcpAssociations(targets: readonly GcpCheckTarget[], federations: GcpFederations): Promise<ProjectLocationCheck[]> {
  const base = (federations.endpoints.artifactRegistryUrl ?? ARTIFACT_REGISTRY_URL).replace(/\/+$/, '');
  const perTarget = await Promise.all(targets.map((t) => checkTarget(t, federations.identity(t.gcp), base)));
  return perTarget.flat();
}

async function checkTarget(target: GcpCheckTarget, identity: GcpFederatedCredentials, base: string): Promise<ProjectLocationCheck[]> {
  const steps: GcpCheckStep[] = [];
  let token: string | undefined;
  try {
    token = await identity.federatedToken();
    steps.push({ check: 'token-exchange', status: 'ok', detail: `federated token for ${target.gcp.audience}` });
  } catch (err) {
    // A refusal (4xx) is the provider's configuration; anything else (network, 5xx) says what it is and no more.
    const hint = refused(err) ? ": the pool provider must trust sigwatch's AWS role (docs/deploy.md)" : '';
    steps.push({ check: 'token-exchange', status: 'failed', detail: `${reason(err)}${hint}` });
  }
  const serviceAccount = target.gcp.serviceAccount;
  if (!serviceAccount) {
    steps.push({ check: 'impersonation', status: 'not-applicable', detail: 'no service account: the federated identity itself reads the registry' });
  } else if (token === undefined) {
    steps.push({ check: 'impersonation', status: 'skipped', detail: 'needs the federated token' });
  } else {
    try {
      token = await identity.serviceAccountToken(token);
      steps.push({ check: 'impersonation', status: 'ok', detail: `impersonated ${serviceAccount}` });
    } catch (err) {
      token = undefined;
      const hint = refused(err) ? `: the federated identity needs roles/iam.workloadIdentityUser on ${serviceAccount}` : '';
      steps.push({ check: 'impersonation', status: 'failed', detail: `${reason(err)}${hint}` });
    }
  }
  const rows: ProjectLocationCheck[] = [];
  for (const project of target.projects) {
    for (const location of project.locations) {
      const list: GcpCheckStep =
        token === undefined
          ? { check: 'artifact-registry-list', status: 'skipped', detail: 'needs an access token' }
          : await listRepositories(identity, base, token, project.id, location);
      const all = [...steps, list];
      rows.push({
        group: target.group,
        project: project.id,
        location,
        audience: target.gcp.audience,
        ...(serviceAccount !== undefined ? { serviceAccount } : {}),
        ok: all.every((s) => s.status === 'ok' || s.status === 'not-applicable'),
        steps: all,
      });
    }
  }
  return rows;
}

/** `repositories.list` with a page of one: the cheapest read the registry role grants. */
async function listRepositories(identity: GcpFederatedCredentials, base: string, token: string, project: string, location: string): Promise<GcpCheckStep> {
  const check = 'artifact-registry-list';
  const url = `${base}/v1/projects/${project}/locations/${location}/repositories?pageSize=1`;
  let res;
  try {
    res = await identity.http.send({ method: 'GET', url, headers: { authorization: `Bearer ${token}` }, maxBytes: MAX_LIST_BYTES }, 'gcp-artifact-registry');
  } catch (err) {
    return { check, status: 'failed', detail: `Artifact Registry unreachable (${reason(err)})` };
  }
  const body = parse(res.body);
  if (res.status === 200) {
    const repositories = isObject(body) && Array.isArray(body.repositories) ? body.repositories.length : 0;
    return { check, status: 'ok', detail: repositories > 0 ? 'repositories readable' : 'allowed (no repository yet)' };
  }
  // Google's error status names the case; its message (which quotes resources and principals) is not repeated.
  const status =
    isObject(body) && isObject(body.error) && typeof body.error.status === 'string' && /^[A-Z_]+$/.test(body.error.status) ? ` ${body.error.status}` : '';
  const label = `HTTP ${res.status}${status}`;
  if (res.status === 403)
    return {
      check,
      status: 'failed',
      detail: `the identity lacks artifactregistry.repositories.list on project ${project} (grant roles/artifactregistry.reader) (${label})`,
    };
  if (res.status === 404) return { check, status: 'failed', detail: `project ${project} or location ${location} not found (${label})` };
  return { check, status: 'failed', detail: `artifactregistry.repositories.list failed (${label})` };
}

/** Google said no (HTTP 4xx), as opposed to not answering. */
function refused(err: unknown): boolean {
  return err instanceof SigwatchError && err.code === 'REGISTRY_AUTH' && err.status !== undefined && err.status >= 400 && err.status < 500;
}

/** Our own errors' messages are written to be shown; anything else is named only. */
function reason(err: unknown): string {
  if (err instanceof SigwatchError) return err.message;
  return err instanceof Error && /^[A-Za-z][\w.]{0,80}$/.test(err.name) ? err.name : 'unknown error';
}

function parse(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The GCP half of the one-line answer. */
export function gcpCheckVerdict(results: readonly ProjectLocationCheck[]): string {
  const failed = results.filter((r) => !r.ok);
  if (failed.length === 0) return 'GCP workload identity federation was successful!';
  const where = failed.map((r) => `${r.project} (${r.location})`).join(', ');
  return `GCP workload identity federation failed for ${failed.length} of ${results.length} project location${results.length === 1 ? '' : 's'}: ${where}`;
}
