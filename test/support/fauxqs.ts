import { SNSClient } from '@aws-sdk/client-sns';
// Installed as a dependency of fauxqs, not declared by sigwatch: only the tests use it.
import { SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs, type FauxqsServer } from 'fauxqs';

export interface TestFauxqs {
  endpoint: string;
  region: string;
  /** Clients for this server only: fixed credentials, so the SDK never looks for real ones. */
  sns: SNSClient;
  sqs: SQSClient;
  server: FauxqsServer;
  stop(): Promise<void>;
}

const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

/** fauxqs (SNS and SQS over the real AWS protocols) in this process, on a free port. */
export async function startTestFauxqs(): Promise<TestFauxqs> {
  // `host` makes queue URLs name 127.0.0.1, so nothing resolves a hostname.
  const server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false, defaultRegion: REGION });
  const endpoint = `http://127.0.0.1:${server.port}`;
  const sns = new SNSClient({ endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
  // The SDK otherwise sends each request to its queue URL's host.
  const sqs = new SQSClient({ endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1, useQueueUrlAsEndpoint: false });
  return {
    endpoint,
    region: REGION,
    sns,
    sqs,
    server,
    stop: async () => {
      sns.destroy();
      sqs.destroy();
      await server.stop();
    },
  };
}
