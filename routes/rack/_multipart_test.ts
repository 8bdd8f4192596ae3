import assert from "node:assert/strict";
import { isRegistryError } from "../../base/errors.ts";
import { multipartBoundary, MultipartReader, readTextPart } from "./_multipart.ts";

const enc = new TextEncoder();

/** A stream that delivers `bytes` in chunks of `size`. */
function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

async function formBytes(form: FormData): Promise<{ bytes: Uint8Array; boundary: string }> {
  const req = new Request("http://x", { method: "POST", body: form });
  const boundary = multipartBoundary(req.headers.get("content-type"))!;
  return { bytes: new Uint8Array(await req.arrayBuffer()), boundary };
}

async function readAll(reader: MultipartReader) {
  const parts: { name: string; filename?: string; type?: string; data: Uint8Array }[] = [];
  for (let p = await reader.next(); p !== null; p = await reader.next()) {
    const data = new Uint8Array(await new Response(p.body).arrayBuffer());
    parts.push({
      name: p.name,
      ...(p.filename ? { filename: p.filename } : {}),
      ...(p.contentType ? { type: p.contentType } : {}),
      data,
    });
  }
  return parts;
}

Deno.test("multipartBoundary() reads quoted and bare boundaries of multipart/form-data only", () => {
  assert.equal(multipartBoundary("multipart/form-data; boundary=abc"), "abc");
  assert.equal(multipartBoundary('Multipart/Form-Data; charset=x; boundary="a b"'), "a b");
  assert.equal(multipartBoundary("multipart/mixed; boundary=abc"), null);
  assert.equal(multipartBoundary("multipart/form-data"), null);
  assert.equal(multipartBoundary(null), null);
});

Deno.test("MultipartReader splits a form correctly at every chunk size, including boundary-like bytes", async () => {
  const binary = enc.encode("\r\n--not-the-boundary\r\n\r\n--");
  const big = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) % 251);
  const form = new FormData();
  form.append("checksum", "abc123");
  form.append("file", new File([binary], "a.tgz", { type: "application/gzip" }));
  form.append("empty", "");
  form.append("package", new File([big], "b.bin", { type: "application/octet-stream; x=1" }));
  const { bytes, boundary } = await formBytes(form);
  for (const size of [1, 2, 3, 7, 13, 64, 1000, 65536, bytes.length]) {
    const reader = new MultipartReader(chunked(bytes, size), boundary, {
      maxBytes: 1e9,
      onLimit: () => new Error("limit"),
    });
    const parts = await readAll(reader);
    assert.deepEqual(parts.map((p) => [p.name, p.filename, p.type]), [
      ["checksum", undefined, undefined],
      ["file", "a.tgz", "application/gzip"],
      ["empty", undefined, undefined],
      ["package", "b.bin", "application/octet-stream"],
    ], `chunk ${size}`);
    assert.equal(new TextDecoder().decode(parts[0]!.data), "abc123");
    assert.deepEqual(parts[1]!.data, binary);
    assert.equal(parts[2]!.data.length, 0);
    assert.deepEqual(parts[3]!.data, big);
  }
});

Deno.test("MultipartReader drains parts the caller skips", async () => {
  const form = new FormData();
  form.append("file", new File([new Uint8Array(50_000)], "a"));
  form.append("checksum", "x");
  const { bytes, boundary } = await formBytes(form);
  const reader = new MultipartReader(chunked(bytes, 4096), boundary, {
    maxBytes: 1e9,
    onLimit: () => new Error("limit"),
  });
  assert.equal((await reader.next())!.name, "file");
  const second = (await reader.next())!;
  assert.equal(await readTextPart(second, 10), "x");
  assert.equal(await reader.next(), null);
});

Deno.test("MultipartReader refuses a body over its byte limit and a body cut short", async () => {
  const form = new FormData();
  form.append("file", new File([new Uint8Array(10_000)], "a"));
  const { bytes, boundary } = await formBytes(form);
  const limited = new MultipartReader(chunked(bytes, 1000), boundary, {
    maxBytes: 5000,
    onLimit: () => new Error("over"),
  });
  await assert.rejects(() => readAll(limited), /over/);
  const cut = new MultipartReader(chunked(bytes.slice(0, 6000), 1000), boundary, {
    maxBytes: 1e9,
    onLimit: () => new Error("over"),
  });
  await assert.rejects(
    () => readAll(cut),
    (err) => isRegistryError(err) && /unexpected end/.test(err.message),
  );
  const text = new MultipartReader(
    chunked(
      enc.encode('--b\r\ncontent-disposition: form-data; name="c"\r\n\r\n0123456789\r\n--b--'),
      3,
    ),
    "b",
    {
      maxBytes: 1e9,
      onLimit: () => new Error("over"),
    },
  );
  await assert.rejects(async () => await readTextPart((await text.next())!, 5), /too large/);
});

/** A byte stream that delivers `bytes` in pieces of at most `size` into its readers' buffers. */
function byteChunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: 4096,
    pull(c: ReadableByteStreamController) {
      const view = c.byobRequest!.view!;
      const n = Math.min(view.byteLength, size, bytes.length - at);
      if (n === 0) {
        c.close();
        c.byobRequest!.respond(0);
        return;
      }
      new Uint8Array(view.buffer, view.byteOffset, n).set(bytes.subarray(at, at + n));
      at += n;
      c.byobRequest!.respond(n);
    },
  });
}

/** A part's bytes read with a BYOB reader into `size`-byte buffers, as the S3 store reads. */
async function readByob(body: ReadableStream<Uint8Array>, size: number): Promise<Uint8Array> {
  const reader = body.getReader({ mode: "byob" });
  const out: number[] = [];
  let buf = new Uint8Array(size);
  while (true) {
    const r = await reader.read(buf);
    if (r.done) break;
    out.push(...r.value);
    buf = new Uint8Array(r.value.buffer);
  }
  return Uint8Array.from(out);
}

Deno.test("MultipartReader reads a byte-stream body into one reused buffer and fills BYOB readers of a part, at every size", async () => {
  const binary = enc.encode("\r\n--not-the-boundary\r\n\r\n--");
  const big = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) % 251);
  const form = new FormData();
  form.append("checksum", "abc123");
  form.append("file", new File([binary], "a.tgz", { type: "application/gzip" }));
  form.append("package", new File([big], "b.bin"));
  const { bytes, boundary } = await formBytes(form);
  for (const size of [3, 64, 1000, 65536, bytes.length]) {
    for (const view of [7, 4096, 100_000]) {
      const reader = new MultipartReader(byteChunked(bytes, size), boundary, {
        maxBytes: 1e9,
        onLimit: () => new Error("limit"),
      });
      const got: Record<string, Uint8Array> = {};
      for (let p = await reader.next(); p !== null; p = await reader.next()) {
        got[p.name] = p.name === "checksum"
          ? enc.encode(await readTextPart(p, 100))
          : await readByob(p.body, view);
      }
      const at = `pieces of ${size}, views of ${view}`;
      assert.deepEqual(new TextDecoder().decode(got.checksum), "abc123", at);
      assert.deepEqual(got.file, binary, at);
      assert.deepEqual(got.package, big, at);
    }
  }
});
