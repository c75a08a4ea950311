// main.js as a real process: env in, one JSON line out, a working double, SIGTERM stops it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { KmsDoubleConfigError, readKmsDoubleConfig } from './kms-double-config.js';
import { callKms, DEV_ROOT_PEM } from './test-support.js';

const dir = mkdtempSync(join(tmpdir(), 'kms-double-main-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('readKmsDoubleConfig', () => {
  it('reports every bad variable at once', () => {
    assert.throws(
      () => readKmsDoubleConfig({ KMS_DOUBLE_REGION: 'mars', KMS_DOUBLE_POLICY_JSON: '{"allowDecryptWithoutRecipient": 1}', KMS_DOUBLE_PORT: '70000' }),
      (error: unknown) => {
        assert.ok(error instanceof KmsDoubleConfigError);
        assert.equal(error.code, 'KMS_DOUBLE_CONFIG_INVALID');
        assert.deepEqual([...error.variables].sort(), [
          'KMS_DOUBLE_ACCESS_KEY_ID', 'KMS_DOUBLE_DEV_ROOT_CERT_PATH', 'KMS_DOUBLE_POLICY_JSON', 'KMS_DOUBLE_PORT', 'KMS_DOUBLE_REGION', 'KMS_DOUBLE_SECRET_ACCESS_KEY',
        ]);
        return true;
      },
    );
  });
});

describe('main.js', () => {
  it('starts from the environment, prints {url, caPath, keyArn}, serves, and stops on SIGTERM', async () => {
    const rootPath = join(dir, 'dev-root.pem');
    writeFileSync(rootPath, DEV_ROOT_PEM);
    const child = spawn(process.execPath, [fileURLToPath(new URL('./main.js', import.meta.url))], {
      env: {
        PATH: process.env['PATH'] ?? '',
        KMS_DOUBLE_DEV_ROOT_CERT_PATH: rootPath,
        KMS_DOUBLE_REGION: 'eu-west-1',
        KMS_DOUBLE_ACCESS_KEY_ID: 'AKIDMAINTEST',
        KMS_DOUBLE_SECRET_ACCESS_KEY: 'main-test-secret',
        KMS_DOUBLE_POLICY_JSON: JSON.stringify({ allowDecryptWithoutRecipient: true, allowGenerateWithoutRecipient: true, recipientConditions: {} }),
        KMS_DOUBLE_CA_DIR: join(dir, 'ca'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
      const announced = JSON.parse(line) as { url: string; caPath: string; keyArn: string };
      assert.deepEqual(Object.keys(announced).sort(), ['caPath', 'keyArn', 'url']);
      assert.equal(announced.caPath, join(dir, 'ca', 'ca.pem'));
      assert.match(announced.keyArn, /^arn:aws:kms:eu-west-1:111122223333:key\//);
      const response = await callKms({
        url: announced.url,
        caCertificatePem: readFileSync(announced.caPath, 'utf8'),
        region: 'eu-west-1',
        credential: { accessKeyId: 'AKIDMAINTEST', secretAccessKey: 'main-test-secret' },
        target: 'TrentService.GenerateDataKey',
        body: { KeyId: announced.keyArn, KeySpec: 'AES_256' },
      });
      assert.equal(response.status, 200, response.text);
      assert.equal(Buffer.from(String(response.json?.['Plaintext']), 'base64').length, 32);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
    assert.ok(existsSync(join(dir, 'ca', 'ca.pem')), 'a caller-given CA directory is left in place');
  });

  it('exits 1 naming the variables when the configuration is bad', async () => {
    const child = spawn(process.execPath, [fileURLToPath(new URL('./main.js', import.meta.url))], { env: { PATH: process.env['PATH'] ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 1);
    assert.match(stderr, /KMS_DOUBLE_DEV_ROOT_CERT_PATH is required/);
  });
});
