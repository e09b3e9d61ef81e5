import { Column, Entity, PrimaryColumn, ValueTransformer } from 'typeorm';

/** pg returns bigint as a string; image sizes stay below 2^53. */
const bigintNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};

/** Glance images. Deleted rows stay (deleted_at set) for the record; every read skips them. */
@Entity({ schema: 'image', name: 'images' })
export class ImageEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('text', { name: 'project_id' }) projectId!: string;
  @Column('text') name!: string;
  @Column('text') status!: string;
  @Column('text', { default: 'private' }) visibility!: string;
  @Column('text', { name: 'disk_format', nullable: true }) diskFormat!: string | null;
  @Column('text', { name: 'container_format', nullable: true }) containerFormat!: string | null;
  @Column('bigint', { name: 'size_bytes', nullable: true, transformer: bigintNumber }) sizeBytes!: number | null;
  @Column('bigint', { name: 'virtual_size', nullable: true, transformer: bigintNumber }) virtualSize!: number | null;
  /** md5 of the bytes, hex (Glance's `checksum`). */
  @Column('text', { nullable: true }) checksum!: string | null;
  @Column('text', { name: 'os_hash_algo', nullable: true }) osHashAlgo!: string | null;
  /** sha256 of the bytes, hex. */
  @Column('text', { name: 'os_hash_value', nullable: true }) osHashValue!: string | null;
  @Column('int', { name: 'min_disk', default: 0 }) minDisk!: number;
  @Column('int', { name: 'min_ram', default: 0 }) minRam!: number;
  @Column('boolean', { default: false }) protected!: boolean;
  @Column('boolean', { name: 'os_hidden', default: false }) osHidden!: boolean;
  @Column('jsonb', { default: () => `'[]'` }) tags!: string[];
  @Column('jsonb', { default: () => `'{}'` }) properties!: Record<string, string>;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' }) updatedAt!: Date;
  @Column('timestamptz', { name: 'deleted_at', nullable: true }) deletedAt!: Date | null;
  /** The storage driver's key of the bytes (content-addressed: the sha256); null until active. */
  @Column('text', { name: 'file_key', nullable: true }) fileKey!: string | null;
}

/** Glance image members: projects a `shared` image is offered to (members of other visibilities are ignored). */
@Entity({ schema: 'image', name: 'image_members' })
export class ImageMemberEntity {
  @PrimaryColumn('uuid', { name: 'image_id' }) imageId!: string;
  /** The project id the image is shared with. */
  @PrimaryColumn('text') member!: string;
  /** pending, accepted or rejected: only `accepted` makes the image usable by the member. */
  @Column('text', { default: 'pending' }) status!: string;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' }) updatedAt!: Date;
}

export const imageEntities = [ImageEntity, ImageMemberEntity];
