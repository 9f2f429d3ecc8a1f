/**
 * The collections the gateway creates at start (idempotently): `imagery`,
 * where the ingest registers every scene, and one per source for clients
 * that want them. `starweather:queue` names the work queue of the
 * collection's processing tasks (items flagged
 * `starweather:priority: "high"` go to `high` whatever the collection says).
 */
import { QUEUES, type QueueName } from '../../../protocol/names.js';
import type { Queryable } from '../../storage/db.js';
import type { StacDoc } from '../../storage/stac.js';

const WHOLE_EARTH = { spatial: { bbox: [[-180, -90, 180, 90]] }, temporal: { interval: [[null, null]] } };

function collection(id: string, title: string, description: string): StacDoc {
  return {
    type: 'Collection',
    stac_version: '1.0.0',
    id,
    title,
    description,
    license: 'proprietary',
    extent: WHOLE_EARTH,
    links: [],
    'starweather:queue': 'weather',
  };
}

export const DEFAULT_COLLECTIONS: readonly StacDoc[] = [
  collection('imagery', 'Weather-satellite imagery', 'Every scene StarWeather registers: GOES-East, GOES-West and Himawari-9 full disk and CONUS, band 13 (10.3 µm) by default. Data: NOAA Open Data Dissemination (public S3 buckets).'),
  collection('goes-east', 'GOES-East ABI L1b', 'GOES-19 ABI L1b radiances (ABI-L1b-RadF, ABI-L1b-RadC), from s3://noaa-goes19.'),
  collection('goes-west', 'GOES-West ABI L1b', 'GOES-18 ABI L1b radiances (ABI-L1b-RadF, ABI-L1b-RadC), from s3://noaa-goes18.'),
  collection('himawari-9', 'Himawari-9 AHI L1b', 'Himawari-9 AHI L1b full disk (AHI-L1b-FLDK, 10 segments per band and time as one item), from s3://noaa-himawari9.'),
];

/** Create the default collections; an existing one keeps its document (an operator may have edited it). */
export async function ensureDefaultCollections(q: Queryable): Promise<void> {
  for (const c of DEFAULT_COLLECTIONS) {
    await q.query(`INSERT INTO stac_collections (id, doc) VALUES ($1, $2::jsonb) ON CONFLICT (id) DO NOTHING`, [c.id, JSON.stringify(c)]);
  }
}


/** The queue an item's processing task goes on. */
export function queueFor(item: StacDoc, collectionDoc: StacDoc): QueueName {
  const props = item.properties as Record<string, unknown> | null | undefined;
  if (props && props['starweather:priority'] === 'high') return 'high';
  const q = collectionDoc['starweather:queue'];
  return typeof q === 'string' && (QUEUES as readonly string[]).includes(q) ? (q as QueueName) : 'weather';
}
