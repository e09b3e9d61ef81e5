/**
 * Idempotency-Key on POST: the first request with a key runs and its answer is kept for 24 h; a
 * retry with the same key and body gets the same answer and creates nothing; the same key with
 * another body, or while the first is still running, gets 409. Keys are scoped to the caller's
 * user, project and path. Token requests are left out: their answer carries a secret header.
 */
import { CallHandler, ExecutionContext, Inject, Injectable, NestInterceptor } from '@nestjs/common';
import { ConflictError, ValidationError } from '@nubo/contracts';
import { createHash } from 'node:crypto';
import { Observable, catchError, from, mergeMap, of } from 'rxjs';
import { DataSource } from 'typeorm';
import { ApiRequest } from './auth-context';

const IN_PROGRESS_TTL_S = 120;

@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = context.switchToHttp().getRequest<ApiRequest>();
    const key = req.header('idempotency-key');
    if (req.method !== 'POST' || key === undefined || !req.auth || req.path.startsWith('/identity/v3/auth/tokens')) {
      return next.handle();
    }
    if (key.length < 1 || key.length > 255) throw new ValidationError('Idempotency-Key must be 1 to 255 characters', 'Idempotency-Key');
    const scope = `${req.auth.userId}/${req.auth.projectId}/${req.path}`;
    const hash = createHash('sha256').update(JSON.stringify(req.body ?? null)).digest('hex');

    return from(this.begin(scope, key, hash)).pipe(
      mergeMap((replay) => {
        if (replay) return of(replay.body);
        return next.handle().pipe(
          // Kept before the answer leaves, so an immediate retry already sees it.
          mergeMap(async (body) => {
            await this.finish(scope, key, body);
            return body;
          }),
          catchError((error) => from(this.forget(scope, key)).pipe(mergeMap(() => Promise.reject(error)))),
        );
      }),
    );
  }

  /** Claims the key, or returns the kept answer of an earlier identical request. */
  private async begin(scope: string, key: string, hash: string): Promise<{ body: unknown } | undefined> {
    await this.db.query(
      `DELETE FROM compute.idempotency_keys WHERE scope = $1 AND key = $2 AND status IS NULL
          AND created_at < now() - ($3 || ' seconds')::interval`,
      [scope, key, String(IN_PROGRESS_TTL_S)],
    );
    const claimed = await this.db.query(
      `INSERT INTO compute.idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING key`,
      [scope, key, hash],
    );
    if (claimed.length) return undefined;
    const [row]: Array<{ request_hash: string; status: number | null; body: unknown }> = await this.db.query(
      `SELECT request_hash, status, body FROM compute.idempotency_keys WHERE scope = $1 AND key = $2`,
      [scope, key],
    );
    if (!row) return this.begin(scope, key, hash);
    if (row.request_hash !== hash) throw new ConflictError('Idempotency-Key was already used with a different request body');
    if (row.status === null) throw new ConflictError('A request with this Idempotency-Key is still in progress');
    return { body: row.body ?? undefined };
  }

  private async finish(scope: string, key: string, body: unknown): Promise<void> {
    await this.db.query(`UPDATE compute.idempotency_keys SET status = 200, body = $3 WHERE scope = $1 AND key = $2`, [
      scope,
      key,
      body === undefined ? null : JSON.stringify(body),
    ]);
    if (Math.random() < 0.01) {
      await this.db.query(`DELETE FROM compute.idempotency_keys WHERE created_at < now() - interval '24 hours'`);
    }
  }

  private async forget(scope: string, key: string): Promise<void> {
    await this.db.query(`DELETE FROM compute.idempotency_keys WHERE scope = $1 AND key = $2`, [scope, key]);
  }
}
