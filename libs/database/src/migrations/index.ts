import { Initial1732550000000 } from './1732550000000-initial';
import { ServerActions1732550002000 } from './1732550002000-server-actions';
import { TenantResources1732550001000 } from './1732550001000-tenant-resources';
import { Images1732550003000 } from './1732550003000-images';
import { ServerKeyName1732550004000 } from './1732550004000-server-key-name';
import { ImageMembers1732550005000 } from './1732550005000-image-members';
import { Aggregates1732550007000 } from './1732550007000-aggregates';
import { HostKsm1732550006000 } from './1732550006000-host-ksm';
import { ServerMigrations1732550009500 } from './1732550009500-server-migrations';
import { HostUsage1732550011000 } from './1732550011000-host-usage';
import { PlacementDecisions1732550010000 } from './1732550010000-placement-decisions';
import { PlacementMetadata1732550012000 } from './1732550012000-placement-metadata';
import { PortBinding1732550014000 } from './1732550014000-port-binding';
import { NeutronCore1732550013000 } from './1732550013000-neutron-core';
import { ServerNetworks1732550015000 } from './1732550015000-server-networks';
import { Routers1732550016000 } from './1732550016000-routers';
import { PortMigrations1732550018000 } from './1732550018000-port-migrations';
import { LiveMigrations1732550019000 } from './1732550019000-live-migrations';
import { ServerDescriptionTags1732550020500 } from './1732550020500-server-description-tags';
import { HostDrains1732550020600 } from './1732550020600-host-drains';
import { ColdMigrations1732550021000 } from './1732550021000-cold-migrations';
import { LiveMigrationForce1732550021100 } from './1732550021100-live-migration-force';
import { HostLeases1732550021200 } from './1732550021200-host-leases';
import { FailoverSettings1732550021400 } from './1732550021400-failover-settings';

/** Every migration, in order. Applied by `npm run db:migrate` (deploy scripts run it before services). */
export const migrations = [Initial1732550000000, ServerActions1732550002000, Images1732550003000, TenantResources1732550001000, ServerKeyName1732550004000, ImageMembers1732550005000, Aggregates1732550007000, HostKsm1732550006000, ServerMigrations1732550009500, HostUsage1732550011000, PlacementDecisions1732550010000, PlacementMetadata1732550012000, NeutronCore1732550013000, PortBinding1732550014000, ServerNetworks1732550015000, Routers1732550016000, PortMigrations1732550018000, LiveMigrations1732550019000, ServerDescriptionTags1732550020500, HostDrains1732550020600, ColdMigrations1732550021000, LiveMigrationForce1732550021100, HostLeases1732550021200, FailoverSettings1732550021400];
