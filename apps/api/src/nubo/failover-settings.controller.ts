/**
 * GET, PUT /nubo/v1/failover (admins): the cloud's automatic failover switch, and the controller's
 * current alert (why it holds back: more hosts silent at once than NUBO_FAILOVER_STORM_PERCENT).
 * Off: silent hosts are neither fenced nor recovered (maintenance windows); manual `evacuate`
 * still works. PUT {"failover": {"enabled": true|false}}.
 */
import { Body, Controller, Get, Inject, Put } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Auth, AuthContext } from '../common/auth-context';
import { invalid, onlyKeys, requireObject } from '../common/validation';
import { requireAdmin } from '../compute/shared/nova-policy';

interface SettingsRow {
  enabled: boolean;
  updated_at: Date;
  alert: string | null;
  alert_at: Date | null;
}

export function parseFailoverSettings(body: unknown): { enabled: boolean } {
  const b = requireObject(body as never, 'body');
  onlyKeys(b, 'body', ['failover']);
  const f = requireObject(b.failover, 'failover');
  onlyKeys(f, 'failover', ['enabled']);
  if (typeof f.enabled !== 'boolean') invalid('enabled', f.enabled ?? null, `${JSON.stringify(f.enabled ?? null)} is not of type 'boolean'`);
  return { enabled: f.enabled as boolean };
}

const view = (r: SettingsRow) => ({
  failover: { enabled: r.enabled, updated_at: r.updated_at.toISOString(), alert: r.alert, alert_at: r.alert_at?.toISOString() ?? null },
});

@Controller('nubo/v1/failover')
export class FailoverSettingsController {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  @Get()
  async get(@Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, 'nubo:failover:show');
    const [row]: SettingsRow[] = await this.db.query(`SELECT enabled, updated_at, alert, alert_at FROM compute.failover_settings WHERE id = 1`);
    return view(row);
  }

  @Put()
  async put(@Body() body: unknown, @Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, 'nubo:failover:update');
    const { enabled } = parseFailoverSettings(body);
    const [row]: SettingsRow[] = await this.db.query(
      `INSERT INTO compute.failover_settings (id, enabled, updated_at) VALUES (1, $1, now())
       ON CONFLICT (id) DO UPDATE SET enabled = $1, updated_at = now()
       RETURNING enabled, updated_at, alert, alert_at`,
      [enabled],
    );
    return view(row);
  }
}
