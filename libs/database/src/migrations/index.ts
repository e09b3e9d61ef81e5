import { Initial1732550000000 } from './1732550000000-initial';

/** Every migration, in order. Applied by `npm run db:migrate` (deploy scripts run it before services). */
export const migrations = [Initial1732550000000];
