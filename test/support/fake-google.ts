/**
 * Google's STS, IAM Credentials and Artifact Registry APIs as far as sigwatch
 * uses them, on 127.0.0.1. The token endpoint does what Google does with an
 * AWS subject token before replaying it to AWS: it checks the SigV4 signature
 * (recomputed here by hand from the SigV4 specification, independently of the
 * SDK signer sigwatch uses) with the one AWS key it knows, and that the target
 * resource header is signed and names the audience asked for.
 */
import { createHash, createHmac } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { GCP_FEDERATED_TOKEN, GCP_SA_TOKEN } from './secrets.ts';
import { startHttpServer } from './http-server.ts';

export interface GoogleRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  body: string;
}

export interface FakeGoogleOptions {
  /** The AWS key Google would find behind the signature (AWS's answer to the replayed request). */
  awsSecretKey: string;
  /** Service accounts the federated identity may impersonate. */
  impersonable?: readonly string[];
  /** Projects whose repositories the token may list; any other answers 403. */
  readableProjects?: readonly string[];
  /** Projects that exist; any other answers 404. */
  projects?: readonly string[];
}

export interface FakeGoogle {
  url: string;
  host: string;
  requests: GoogleRequest[];
  /** Why the last token exchange was refused (the test's view; Google says only invalid_grant). */
  refusals: string[];
  close(): Promise<void>;
}

export async function startFakeGoogle(opts: FakeGoogleOptions): Promise<FakeGoogle> {
  const requests: GoogleRequest[] = [];
  const refusals: string[] = [];
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = await startHttpServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const path = req.url ?? '';
      requests.push({ method: req.method ?? '', path, authorization: req.headers.authorization, body });
      if (req.method === 'POST' && path === '/v1/token') {
        const refusal = checkExchange(new URLSearchParams(body), opts.awsSecretKey);
        if (refusal) {
          refusals.push(refusal);
          return json(res, 400, { error: 'invalid_grant', error_description: `refused: ${refusal}` });
        }
        return json(res, 200, {
          access_token: GCP_FEDERATED_TOKEN,
          issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          token_type: 'Bearer',
          expires_in: 3600,
        });
      }
      const impersonate = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(path);
      if (req.method === 'POST' && impersonate) {
        if (req.headers.authorization !== `Bearer ${GCP_FEDERATED_TOKEN}`) return json(res, 401, { error: { code: 401, status: 'UNAUTHENTICATED' } });
        if (!(opts.impersonable ?? []).includes(impersonate[1]!)) {
          return json(res, 403, {
            error: { code: 403, message: `Permission 'iam.serviceAccounts.getAccessToken' denied on ${impersonate[1]}`, status: 'PERMISSION_DENIED' },
          });
        }
        return json(res, 200, { accessToken: GCP_SA_TOKEN, expireTime: new Date(Date.now() + 3600_000).toISOString() });
      }
      const list = /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/repositories\?pageSize=1$/.exec(path);
      if (req.method === 'GET' && list) {
        const token = req.headers.authorization?.replace(/^Bearer /, '');
        if (token !== GCP_FEDERATED_TOKEN && token !== GCP_SA_TOKEN) return json(res, 401, { error: { code: 401, status: 'UNAUTHENTICATED' } });
        if (!(opts.projects ?? opts.readableProjects ?? []).includes(list[1]!)) return json(res, 404, { error: { code: 404, status: 'NOT_FOUND' } });
        if (!(opts.readableProjects ?? []).includes(list[1]!)) {
          return json(res, 403, {
            error: {
              code: 403,
              message: `Permission 'artifactregistry.repositories.list' denied on resource projects/${list[1]}`,
              status: 'PERMISSION_DENIED',
            },
          });
        }
        return json(res, 200, { repositories: [{ name: `projects/${list[1]}/locations/${list[2]}/repositories/signatures`, format: 'DOCKER' }] });
      }
      json(res, 404, { error: { code: 404, status: 'NOT_FOUND' } });
    });
  });
  return { url: server.url, host: server.host, requests, refusals, close: server.close };
}

/** Why Google would refuse this exchange, or undefined when it would accept it. */
function checkExchange(form: URLSearchParams, secretKey: string): string | undefined {
  if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:token-exchange') return 'grant_type';
  if (form.get('subject_token_type') !== 'urn:ietf:params:aws:token-type:aws4_request') return 'subject_token_type';
  let subject: { url: string; method: string; headers: { key: string; value: string }[] };
  try {
    subject = JSON.parse(decodeURIComponent(form.get('subject_token') ?? ''));
  } catch {
    return 'subject_token is not URL-encoded JSON';
  }
  const headers = new Map(subject.headers.map((h) => [h.key.toLowerCase(), h.value]));
  if (headers.get('x-goog-cloud-target-resource') !== form.get('audience')) return 'target resource is not the audience';
  const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([a-z0-9-]+)\/sts\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
    headers.get('authorization') ?? '',
  );
  if (!auth) return 'authorization header';
  const [, , day, region, signedHeaders, signature] = auth as unknown as [string, string, string, string, string, string];
  const signed = signedHeaders.split(';');
  for (const h of ['host', 'x-amz-date', 'x-goog-cloud-target-resource']) if (!signed.includes(h)) return `${h} is not signed`;
  const url = new URL(subject.url);
  if (url.host !== `sts.${region}.amazonaws.com` || headers.get('host') !== url.host) return 'host';
  const query = [...url.searchParams]
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .sort()
    .join('&');
  const canonical = [subject.method, '/', query, ...signed.map((h) => `${h}:${(headers.get(h) ?? '').trim()}`), '', signedHeaders, sha256('')].join('\n');
  const date = headers.get('x-amz-date') ?? '';
  const stringToSign = ['AWS4-HMAC-SHA256', date, `${day}/${region}/sts/aws4_request`, sha256(canonical)].join('\n');
  let key = hmac(`AWS4${secretKey}`, day);
  for (const part of [region, 'sts', 'aws4_request']) key = hmac(key, part);
  if (createHmac('sha256', key).update(stringToSign).digest('hex') !== signature) return 'signature';
  return undefined;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
