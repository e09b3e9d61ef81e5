/**
 * Nova's instance action log: the api records each accepted request as an action; the workflow
 * that carries it out records its steps as events (start, finish, result). Plain SQL so both
 * sides write the same rows.
 */
import { EntityManager } from 'typeorm';

type Db = Pick<EntityManager, 'query'>;

export interface ActionRecord {
  serverId: string;
  projectId: string;
  userId: string;
  action: string;
  requestId: string;
}

/** Idempotent per (server, request id): a retried request keeps one action. */
export async function recordAction(db: Db, a: ActionRecord): Promise<void> {
  await db.query(
    `INSERT INTO compute.instance_actions (server_id, project_id, user_id, action, request_id)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (server_id, request_id) DO NOTHING`,
    [a.serverId, a.projectId, a.userId, a.action, a.requestId],
  );
}

/** Runs `step` as an action event; the event's result says how it ended. */
export async function withActionEvent<T>(
  db: Db,
  o: { serverId: string; requestId: string; event: string; host?: string | null },
  step: () => Promise<T>,
): Promise<T> {
  const rows: Array<{ id: string }> = await db.query(
    `INSERT INTO compute.instance_action_events (action_id, event, host)
     SELECT id, $3, $4 FROM compute.instance_actions WHERE server_id = $1 AND request_id = $2
     RETURNING id`,
    [o.serverId, o.requestId, o.event, o.host ?? null],
  );
  const eventId = rows[0]?.id;
  const finish = async (result: string, details: string | null) => {
    if (!eventId) return;
    await db.query(`UPDATE compute.instance_action_events SET result = $2, details = $3, finish_time = now() WHERE id = $1`, [
      eventId,
      result,
      details,
    ]);
    await db.query(
      `UPDATE compute.instance_actions SET updated_at = now(), message = CASE WHEN $2 = 'Error' THEN 'Error' ELSE message END
        WHERE server_id = $1 AND request_id = $3`,
      [o.serverId, result, o.requestId],
    );
  };
  try {
    const value = await step();
    await finish('Success', null);
    return value;
  } catch (error) {
    await finish('Error', (error as Error).message);
    throw error;
  }
}
