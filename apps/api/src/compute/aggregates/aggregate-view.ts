/**
 * Nova's aggregate object at microversion 2.1 (no `uuid`, which comes with 2.41): the zone both
 * as `availability_zone` and inside `metadata`, timestamps without a zone, `deleted` always false
 * for the live aggregates the API shows.
 */
import { novaTime } from '../shared/nova-time';

export interface AggregateRecord {
  id: number;
  uuid: string;
  name: string;
  availabilityZone: string | null;
  /** Without `availability_zone`. */
  metadata: Record<string, string>;
  hosts: string[];
  createdAt: Date;
  updatedAt: Date | null;
  deletedAt: Date | null;
}

export function aggregateView(a: AggregateRecord): Record<string, unknown> {
  return {
    availability_zone: a.availabilityZone,
    created_at: novaTime(a.createdAt),
    deleted: a.deletedAt !== null,
    deleted_at: novaTime(a.deletedAt),
    hosts: a.hosts,
    id: a.id,
    metadata: a.availabilityZone === null ? { ...a.metadata } : { ...a.metadata, availability_zone: a.availabilityZone },
    name: a.name,
    updated_at: novaTime(a.updatedAt),
  };
}

/** Create answers without `hosts` and `metadata`, as Nova has since it returned objects. */
export function createdAggregateView(a: AggregateRecord): Record<string, unknown> {
  const { hosts: _hosts, metadata: _metadata, ...rest } = aggregateView(a);
  return rest;
}
