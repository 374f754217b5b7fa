import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readEnvironment } from '../../src/pipeline/environment.ts';

const BASE = { SIGWATCH_CONFIG_BUCKET: 'sigwatch-config' };

describe('SIGWATCH_KMS_ENDPOINTS', () => {
  it('is no endpoint besides AWS’s own unless set', () => {
    assert.deepEqual(readEnvironment(BASE).kmsEndpoints, []);
    assert.deepEqual(readEnvironment({ ...BASE, SIGWATCH_KMS_ENDPOINTS: '' }).kmsEndpoints, []);
  });

  it('reads comma-separated HOST[:PORT] entries', () => {
    assert.deepEqual(
      readEnvironment({ ...BASE, SIGWATCH_KMS_ENDPOINTS: 'vpce-0a1b.kms.eu-west-1.vpce.amazonaws.com:443, localhost:4566,[::1]:4566' }).kmsEndpoints,
      ['vpce-0a1b.kms.eu-west-1.vpce.amazonaws.com:443', 'localhost:4566', '[::1]:4566'],
    );
  });

  it('refuses a URL or a path, naming the variable', () => {
    assert.throws(
      () => readEnvironment({ ...BASE, SIGWATCH_KMS_ENDPOINTS: 'https://kms.example/' }),
      /SIGWATCH_KMS_ENDPOINTS: expected comma-separated HOST\[:PORT\] entries, got "https:\/\/kms\.example\/"/,
    );
  });
});
