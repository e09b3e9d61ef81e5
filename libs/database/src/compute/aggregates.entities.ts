/** Nova host aggregates and availability zones, and Placement-style host traits. */
import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

/**
 * A host aggregate. Its availability zone is a column (Nova keeps it in metadata, and shows it
 * there too); deleted aggregates stay with deleted_at set and free their name.
 */
@Entity({ schema: 'compute', name: 'aggregates' })
export class AggregateEntity {
  @PrimaryGeneratedColumn('increment', { type: 'int' }) id!: number;
  @Column('uuid') uuid!: string;
  @Column('text') name!: string;
  @Column('text', { name: 'availability_zone', nullable: true }) availabilityZone!: string | null;
  /** Without `availability_zone`. */
  @Column('jsonb', { default: {} }) metadata!: Record<string, string>;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
  @Column('timestamptz', { name: 'updated_at', nullable: true }) updatedAt!: Date | null;
  @Column('timestamptz', { name: 'deleted_at', nullable: true }) deletedAt!: Date | null;
}

/** A host's membership of an aggregate. A host is in at most one availability zone. */
@Entity({ schema: 'compute', name: 'aggregate_hosts' })
export class AggregateHostEntity {
  @PrimaryColumn('int', { name: 'aggregate_id' }) aggregateId!: number;
  @PrimaryColumn('text', { name: 'host_id' }) hostId!: string;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
}

export type HostTraitSource = 'agent' | 'admin';

/** A trait of a host (Placement's vocabulary): standard ones reported by its agent, CUSTOM_* set by admins. */
@Entity({ schema: 'compute', name: 'host_traits' })
export class HostTraitEntity {
  @PrimaryColumn('text', { name: 'host_id' }) hostId!: string;
  @PrimaryColumn('text') trait!: string;
  @Column('text') source!: HostTraitSource;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
}

export const aggregateEntities = [AggregateEntity, AggregateHostEntity, HostTraitEntity];

/**
 * SQL for the availability zone of the host in column `hostColumn`: its aggregates' zone, or NULL
 * when none of them has one (the default zone then). One zone per host is enforced by the api.
 */
export function hostZoneSql(hostColumn: string): string {
  return `SELECT a.availability_zone FROM compute.aggregate_hosts ah
            JOIN compute.aggregates a ON a.id = ah.aggregate_id
           WHERE ah.host_id = ${hostColumn} AND a.deleted_at IS NULL AND a.availability_zone IS NOT NULL
           ORDER BY a.id LIMIT 1`;
}
