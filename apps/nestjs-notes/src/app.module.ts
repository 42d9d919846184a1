/**
 * The notes service on NestJS: `VaultModule` (`@leasehold/nestjs`) logs in before anything that injects the client
 * is created, provides the rotating pool as `@InjectPool('notes')`, and on `app.close()` (or a signal with
 * `enableShutdownHooks()`) drains the pool and revokes the leases and the token. The domain (`NotesService`) is
 * shared by the three examples; here it is a provider built from the injected client and pool.
 *
 * Routes: `GET /notes`, `POST /notes` `{ title, body }`, `GET /notes/:id`, `DELETE /notes/:id`, `GET /settings`,
 * `GET /health` (liveness), `GET /ready` (Vault and the database answer).
 *
 * Every injection uses an explicit token (`@Inject`, `@InjectVault`, `@InjectPool`), so it works without
 * `emitDecoratorMetadata` (esbuild/tsup builds).
 */
import 'reflect-metadata';
import type { LeaseOptions, VaultOptions } from '@leasehold/core';
import { getPoolToken, type VaultDatabase, VaultModule, VaultService } from '@leasehold/nestjs';
import {
  type NotesDatabase,
  type NotesDatabaseOptions,
  NotesService,
  notesDatabaseOptions,
  notesErrorResponse,
  parseNoteId,
} from '@leasehold/notes-common';
import {
  type ArgumentsHost,
  Body,
  Catch,
  Controller,
  Delete,
  type DynamicModule,
  type ExceptionFilter,
  Get,
  HttpCode,
  HttpException,
  Inject,
  Module,
  NotFoundException,
  Param,
  Post,
  Res,
} from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { Response } from 'express';

export { databaseFromUrl } from '@leasehold/notes-common';

@Controller()
export class NotesController {
  constructor(@Inject(NotesService) private readonly notes: NotesService) {}

  @Get('settings')
  async settings(): Promise<{ greeting: string; maxBodyLength: number }> {
    const { greeting, maxBodyLength } = await this.notes.settings();
    return { greeting, maxBodyLength };
  }

  @Get('notes')
  async list() {
    return { notes: await this.notes.list() };
  }

  @Post('notes')
  @HttpCode(201)
  async create(@Body() body: unknown) {
    return this.notes.create(body);
  }

  @Get('notes/:id')
  async get(@Param('id') id: string) {
    const note = await this.notes.get(parseNoteId(id));
    if (!note) throw new NotFoundException('note not found');
    return note;
  }

  @Delete('notes/:id')
  @HttpCode(204)
  async delete(@Param('id') id: string): Promise<void> {
    if (!(await this.notes.delete(parseNoteId(id)))) throw new NotFoundException('note not found');
  }

  /** Liveness: the process serves requests. */
  @Get('health')
  health() {
    return { status: 'ok' };
  }

  /** Readiness: Vault usable and the database answering. */
  @Get('ready')
  async ready(@Res({ passthrough: true }) res: Response) {
    const { status, body } = await this.notes.readiness();
    res.status(status);
    return body;
  }
}

/** Maps errors to the examples' JSON answers: Vault errors → 503 with their code, bad input → 400. */
@Catch()
export class NotesExceptionFilter implements ExceptionFilter {
  catch(error: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (error instanceof HttpException) {
      const status = error.getStatus();
      res.status(status).json({ error: error.message });
      return;
    }
    const { status, body } = notesErrorResponse(error);
    if (status === 500) console.error('request failed', (error as Error).message);
    res.status(status).json(body);
  }
}

/** Options of {@link NotesAppModule.register}. */
export interface NotesModuleOptions {
  /** Client options (default: everything from `VAULT_*` variables). */
  vaultOptions?: VaultOptions;
  /** Where the notes live (credentials come from Vault), and the pool size (default 10). */
  database: NotesDatabase & { max?: number };
  /** Lease options of the database credentials. */
  leaseOptions?: LeaseOptions;
  /** Startup bound: login + first credentials, ms (default 30 000). */
  readyTimeoutMs?: number;
}

/** The application module. */
@Module({})
// biome-ignore lint/complexity/noStaticOnlyClass: a Nest module is a class; register() builds its dynamic form
export class NotesAppModule {
  static register(options: NotesModuleOptions): DynamicModule {
    return {
      module: NotesAppModule,
      imports: [
        VaultModule.forRoot({
          ...options.vaultOptions,
          readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
          databases: { notes: notesDatabaseOptions(options.database, options.leaseOptions) },
        }),
      ],
      controllers: [NotesController],
      providers: [
        {
          provide: NotesService,
          inject: [VaultService, getPoolToken('notes')],
          useFactory: (vault: VaultService, pool: VaultDatabase<{ notes: NotesDatabaseOptions }, 'notes'>) =>
            new NotesService(vault, pool),
        },
        { provide: APP_FILTER, useClass: NotesExceptionFilter },
      ],
    };
  }
}
