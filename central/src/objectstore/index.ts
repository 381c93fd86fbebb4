/**
 * The object store as the central services need it, over any S3-compatible server (AWS S3,
 * versitygw, MinIO, Ceph RGW) through the AWS SDK (`@aws-sdk/client-s3`, pinned: later releases
 * need Node 22):
 *
 *  - `putIfAbsent(key, body)`: PutObject with `If-None-Match: *` (S3 conditional writes, 2024): the
 *    first writer of a key wins, a second gets 'exists' (HTTP 412 PreconditionFailed, or 409
 *    ConditionalRequestConflict while the first is still in flight). The archiver writes
 *    deterministic keys this way, so a replay never replaces what a reader may already have read.
 *  - `get`, `head` (null when absent), `list(prefix)` (every key, following continuation tokens),
 *    `delete`, `ensureBucket`.
 *
 * Errors other than "absent" and "exists" are thrown as they come (network, 403, 5xx): callers
 * retry with backoff, never treat them as success.
 */
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';

export interface ObjectStoreOptions {
  /** http(s)://host:port of the S3 API; omit for AWS itself. */
  endpoint?: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Path-style addressing (`http://host/bucket/key`), as most self-hosted servers need. */
  forcePathStyle: boolean;
}

export interface StoredObject {
  key: string;
  size: number;
}

export interface ObjectHead {
  size: number;
  etag: string;
  metadata: Record<string, string>;
}

function status(error: unknown): number | undefined {
  return error instanceof S3ServiceException ? error.$metadata.httpStatusCode : (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

export class ObjectStore {
  private readonly client: S3Client;

  constructor(readonly options: ObjectStoreOptions) {
    this.client = new S3Client({
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      maxAttempts: 3,
    });
  }

  get bucket(): string {
    return this.options.bucket;
  }

  /** Creates the bucket unless it exists (and is ours). */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (error) {
      if (status(error) !== 404) throw error;
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      // Created meanwhile by another instance.
      if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes((error as Error).name)) throw error;
    }
  }

  /** Writes `body` under `key` unless the key exists: 'created', or 'exists' (nothing written). */
  async putIfAbsent(key: string, body: Uint8Array, options: { contentType: string; metadata?: Record<string, string> }): Promise<'created' | 'exists'> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: options.contentType, Metadata: options.metadata, IfNoneMatch: '*' }));
      return 'created';
    } catch (error) {
      const code = status(error);
      if (code === 412 || code === 409) return 'exists';
      throw error;
    }
  }

  /** Writes (or replaces) `key`. */
  async put(key: string, body: Uint8Array, options: { contentType: string; metadata?: Record<string, string> }): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: options.contentType, Metadata: options.metadata }));
  }

  /** The object's bytes, or null when there is no such key. */
  async get(key: string): Promise<Buffer | null> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (error) {
      if (status(error) === 404) return null;
      throw error;
    }
  }

  async head(key: string): Promise<ObjectHead | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: out.ContentLength ?? 0, etag: out.ETag ?? '', metadata: out.Metadata ?? {} };
    } catch (error) {
      if (status(error) === 404) return null;
      throw error;
    }
  }

  /**
   * Every key under `prefix`, in the store's (lexicographic) order; with `startAfter`, only the keys
   * after it (ListObjectsV2 StartAfter).
   */
  async list(prefix: string, pageSize = 1000, startAfter?: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, MaxKeys: pageSize, ContinuationToken: token, ...(token === undefined && startAfter !== undefined ? { StartAfter: startAfter } : {}) }));
      for (const item of page.Contents ?? []) if (item.Key !== undefined) out.push({ key: item.Key, size: item.Size ?? 0 });
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out;
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  close(): void {
    this.client.destroy();
  }
}
