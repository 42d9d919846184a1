/**
 * End to end: the dev server configured by the operator setup, the test PostgreSQL, and the NestJS notes app logged
 * in with AppRole from the environment (as `pnpm start` does), checked against the notes contract.
 */
import 'reflect-metadata';
import { getPoolToken, VaultService } from '@leasehold/nestjs';
import {
  describeNotesApi,
  type NotesFixture,
  startNotesFixture,
  TEST_LEASE_OPTIONS,
} from '@leasehold/notes-common/testing';
import type { RotatingPool } from '@leasehold/pg';
import type {} from '@leasehold/test-env/global-setup';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { NotesAppModule } from '../src/app.module.js';

let fixture: NotesFixture;
let app: INestApplication;
let base: string;
let vault: VaultService;

beforeAll(async () => {
  fixture = await startNotesFixture(inject('pgSuperuserUrl'));
  for (const [name, value] of Object.entries(fixture.env)) vi.stubEnv(name, value);
  app = await NestFactory.create(
    NotesAppModule.register({ database: fixture.setup.database, leaseOptions: TEST_LEASE_OPTIONS }),
    { abortOnError: false, logger: false },
  );
  await app.listen(0, '127.0.0.1');
  base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  vault = app.get(VaultService);
});

afterAll(async () => {
  await app?.close();
  await fixture?.close();
});

describe('nestjs-notes', () => {
  it('logged in with AppRole from the environment', () => {
    expect(vault.authMethod).toBe('approle');
  });

  describeNotesApi(() => ({
    fixture,
    base,
    pool: app.get<RotatingPool>(getPoolToken('notes')),
    accessor: () => vault.health().token?.accessor,
    shutdown: async () => {
      await app.close();
      expect(vault.closed).toBe(true);
    },
  }));
});
