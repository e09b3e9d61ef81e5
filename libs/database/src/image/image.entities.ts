import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Glance images; the image store grows this schema (members, locations, ...) in its issue. */
@Entity({ schema: 'image', name: 'images' })
export class ImageEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('text', { name: 'project_id' }) projectId!: string;
  @Column('text') name!: string;
  @Column('text') status!: string;
  @Column('text', { default: 'private' }) visibility!: string;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
}

export const imageEntities = [ImageEntity];
