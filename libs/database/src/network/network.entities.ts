import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Neutron networks; the network service grows this schema (subnets, ports, ...) in its issue. */
@Entity({ schema: 'network', name: 'networks' })
export class NetworkEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('text', { name: 'project_id' }) projectId!: string;
  @Column('text') name!: string;
  @Column('boolean', { default: false }) shared!: boolean;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
}

export const networkEntities = [NetworkEntity];
