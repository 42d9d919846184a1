import { randomBytes, randomUUID } from 'node:crypto';
import {
  DescribeSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerIdentity, SecretsManagerStandIn } from '@leasehold/test-env';

/** The identity the application signs with (test credentials the stand-ins know). */
export const APP: SecretsManagerIdentity = {
  accessKeyId: 'AKIAAPPTESTKEY000001',
  secretAccessKey: 'app-test-secret-key-0000000000000000000',
};

/** The identity of the rotation function. */
export const ROTATOR: SecretsManagerIdentity = {
  accessKeyId: 'AKIAROTATORKEY000001',
  secretAccessKey: 'rotator-test-secret-key-00000000000000',
};

/** May only describe, not read the value. */
export const DESCRIBE_ONLY: SecretsManagerIdentity = {
  accessKeyId: 'AKIADESCRIBEONLY0001',
  secretAccessKey: 'describe-only-secret-key-000000000000',
  arn: 'arn:aws:iam::123456789012:role/describe-only',
  allow: ['DescribeSecret'],
};

export const REGION = 'us-east-1';

export const newPassword = (): string => randomBytes(18).toString('base64url');

/** An RDS-format secret. */
export function rdsSecret(fields: Record<string, unknown>): string {
  return JSON.stringify({ engine: 'postgres', ...fields });
}

/**
 * The three steps of a Secrets Manager rotation function
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_how.html), done with the real SDK
 * client against the stand-in: `createSecret` stores the new value as AWSPENDING, `setSecret` (the caller) changes
 * the database, `finishSecret` moves AWSCURRENT to it (AWSPREVIOUS follows).
 */
export class Rotator {
  readonly client: SecretsManagerClient;
  constructor(
    standIn: SecretsManagerStandIn,
    readonly secretId: string,
  ) {
    this.client = new SecretsManagerClient({
      region: REGION,
      endpoint: standIn.url,
      credentials: { accessKeyId: ROTATOR.accessKeyId, secretAccessKey: ROTATOR.secretAccessKey },
    });
  }

  async createSecret(secretString: string): Promise<string> {
    const token = randomUUID();
    await this.client.send(
      new PutSecretValueCommand({
        SecretId: this.secretId,
        ClientRequestToken: token,
        SecretString: secretString,
        VersionStages: ['AWSPENDING'],
      }),
    );
    return token;
  }

  async finishSecret(token: string): Promise<void> {
    const described = await this.client.send(new DescribeSecretCommand({ SecretId: this.secretId }));
    const current = Object.entries(described.VersionIdsToStages ?? {}).find(([, s]) =>
      s.includes('AWSCURRENT'),
    )?.[0];
    if (current === token) return;
    await this.client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: this.secretId,
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: token,
        RemoveFromVersionId: current,
      }),
    );
  }

  close(): void {
    this.client.destroy();
  }
}
