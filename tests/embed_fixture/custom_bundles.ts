// A user's own blob backend: bytes in a Map by SHA-256, written from scratch
// against the seam (a stand-in for an object store adapter).
import type {
  BlobBody,
  BlobInfo,
  BundleStorage,
  ByteRange,
  ListOptions,
  Page,
  PutBlobOptions,
} from "@x/registry";
import { RegistryError } from "@x/registry";

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class MapBlobStorage implements BundleStorage {
  #blobs = new Map<string, { bytes: Uint8Array; touchedAt: string }>();

  async put(
    body: ReadableStream<Uint8Array> | Uint8Array,
    options: PutBlobOptions = {},
  ): Promise<BlobInfo> {
    const max = options.maxBytes ?? Infinity;
    let bytes: Uint8Array;
    if (body instanceof Uint8Array) bytes = body;
    else {
      const parts: Uint8Array[] = [];
      let size = 0;
      for await (const part of body) {
        size += part.byteLength;
        if (size > max) break;
        parts.push(part);
      }
      bytes = new Uint8Array(size);
      let o = 0;
      for (const p of parts) (bytes.set(p, o), o += p.byteLength);
    }
    if (bytes.byteLength > max) {
      throw new RegistryError("too_large", `Blob exceeds ${max} bytes`);
    }
    const digest = await sha256(bytes);
    if (
      options.expectedSha256 !== undefined && options.expectedSha256 !== digest
    ) {
      throw new RegistryError("digest_mismatch", "Blob digest does not match");
    }
    const touchedAt = new Date().toISOString();
    if (!this.#blobs.has(digest)) {
      this.#blobs.set(digest, { bytes: bytes.slice(), touchedAt });
    } else this.#blobs.get(digest)!.touchedAt = touchedAt;
    return { sha256: digest, size: bytes.byteLength, touchedAt };
  }

  async get(digest: string, range?: ByteRange): Promise<BlobBody | null> {
    const blob = this.#blobs.get(digest);
    if (!blob) return null;
    const ok = (await sha256(blob.bytes)) === digest;
    const part = range ? blob.bytes.slice(range.start, range.end) : blob.bytes.slice();
    return {
      size: blob.bytes.byteLength,
      sha256: digest,
      stream: new ReadableStream({
        start(c) {
          if (!ok) {
            return c.error(
              new RegistryError(
                "blob_corrupt",
                "Stored blob failed its digest",
              ),
            );
          }
          c.enqueue(part);
          c.close();
        },
      }),
    };
  }

  stat(digest: string): Promise<BlobInfo | null> {
    const b = this.#blobs.get(digest);
    return Promise.resolve(
      b ? { sha256: digest, size: b.bytes.byteLength, touchedAt: b.touchedAt } : null,
    );
  }

  delete(digest: string): Promise<boolean> {
    return Promise.resolve(this.#blobs.delete(digest));
  }

  list(options: ListOptions = {}): Promise<Page<BlobInfo>> {
    const all = [...this.#blobs.keys()].sort().filter((d) =>
      options.cursor === undefined || d > options.cursor
    );
    const limit = options.limit ?? 100;
    const items = all.slice(0, limit).map((d) => ({
      sha256: d,
      size: this.#blobs.get(d)!.bytes.byteLength,
      touchedAt: this.#blobs.get(d)!.touchedAt,
    }));
    return Promise.resolve(
      all.length > limit ? { items, cursor: items.at(-1)!.sha256 } : { items },
    );
  }

  /** Test hook: rot the stored bytes. */
  rot(digest: string): void {
    const b = this.#blobs.get(digest);
    if (b) b.bytes = new TextEncoder().encode("rot");
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
