/** An EventBridge "ECR Image Action" as ECR sends it, for account 111122223333 in eu-west-1. */
export { PAYMENTS } from './accounts.ts';
import { PAYMENTS } from './accounts.ts';

export function ecrImageAction(id: string, detail: Record<string, string>) {
  return {
    version: '0',
    id: `evt-${id}`,
    'detail-type': 'ECR Image Action',
    source: 'aws.ecr',
    account: PAYMENTS,
    time: '2026-11-23T10:00:00Z',
    region: 'eu-west-1',
    resources: [],
    detail: { result: 'SUCCESS', 'repository-name': 'team/app', 'action-type': 'PUSH', 'image-tag': '', ...detail },
  };
}

/** The same event as an SQS record of the Lambda event source mapping. */
export function sqsRecord(id: string, event: object) {
  return { messageId: id, body: JSON.stringify(event), attributes: { ApproximateReceiveCount: '1' }, eventSource: 'aws:sqs' };
}
