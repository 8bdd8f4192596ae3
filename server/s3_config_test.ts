import assert from "node:assert/strict";
import { parseServerArgs } from "./config.ts";

const CREDS = { AWS_ACCESS_KEY_ID: "id", AWS_SECRET_ACCESS_KEY: "secret" };

function bundles(args: string[], env: Record<string, string> = CREDS) {
  const r = parseServerArgs(args, env);
  return r.ok ? r.config.bundles : "error" in r ? r.error : "help";
}

Deno.test("--bundles=s3:<bucket>/<prefix> takes the endpoint, region and credentials from the environment", () => {
  assert.deepEqual(
    bundles(["--bundles=s3:registry/team/blobs"], {
      ...CREDS,
      S3_ENDPOINT: "http://127.0.0.1:9000/",
      AWS_REGION: "eu-west-1",
      AWS_SESSION_TOKEN: "tok",
    }),
    {
      kind: "s3",
      bucket: "registry",
      prefix: "team/blobs/",
      endpoint: "http://127.0.0.1:9000",
      region: "eu-west-1",
      style: "path",
      accessKeyId: "id",
      secretAccessKey: "secret",
      sessionToken: "tok",
    },
  );
});

Deno.test("--bundles=s3 flags win over the environment, and AWS itself defaults to virtual hosts", () => {
  const spec = bundles([
    "--bundles=s3:registry",
    "--s3-endpoint=https://minio.internal:9000",
    "--s3-region=auto",
    "--s3-style=virtual",
  ], { ...CREDS, S3_ENDPOINT: "http://ignored:1" });
  assert.ok(typeof spec === "object" && spec.kind === "s3");
  assert.equal(spec.endpoint, "https://minio.internal:9000");
  assert.equal(spec.region, "auto");
  assert.equal(spec.style, "virtual");
  const aws = bundles(["--bundles=s3:registry"]);
  assert.ok(typeof aws === "object" && aws.kind === "s3");
  assert.equal(aws.style, "virtual");
  assert.equal(aws.region, "us-east-1");
  assert.equal(aws.prefix, "");
});

Deno.test("--bundles=s3 refuses a bad bucket, prefix, endpoint, style or missing credentials in one line", () => {
  for (
    const [args, env, pattern] of [
      [["--bundles=s3:"], CREDS, /valid bucket name/],
      [["--bundles=s3:Bad_Bucket"], CREDS, /valid bucket name/],
      [["--bundles=s3:registry/../x"], CREDS, /prefix/],
      [["--bundles=s3:registry", "--s3-endpoint=ftp://x"], CREDS, /--s3-endpoint/],
      [["--bundles=s3:registry", "--s3-style=sideways"], CREDS, /--s3-style/],
      [["--bundles=s3:registry"], { AWS_ACCESS_KEY_ID: "id" }, /AWS_SECRET_ACCESS_KEY/],
    ] as const
  ) {
    const r = bundles([...args], { ...env });
    assert.equal(typeof r, "string", args.join(" "));
    assert.match(r as string, pattern);
    assert.ok(!(r as string).includes("\n"));
  }
});

const R2 = {
  STORAGE_BACKEND: "r2",
  R2_BUCKET_NAME: "rack-registry",
  R2_ACCOUNT_ID: "0123456789abcdef",
  R2_ACCESS_KEY_ID: "r2-id",
  R2_SECRET_ACCESS_KEY: "r2-secret",
};

Deno.test("STORAGE_BACKEND=r2 puts bundles in the R2 bucket at its root, on R2's endpoint", () => {
  assert.deepEqual(bundles([], R2), {
    kind: "s3",
    bucket: "rack-registry",
    prefix: "",
    endpoint: "https://0123456789abcdef.r2.cloudflarestorage.com",
    region: "auto",
    style: "path",
    accessKeyId: "r2-id",
    secretAccessKey: "r2-secret",
  });
  // An explicit --bundles still wins.
  assert.deepEqual(bundles(["--bundles=fs:/srv/b"], R2), { kind: "fs", path: "/srv/b" });
});

Deno.test("STORAGE_BACKEND=r2 with a variable missing is a boot error naming it", () => {
  for (
    const name of ["R2_BUCKET_NAME", "R2_ACCOUNT_ID", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"]
  ) {
    const r = bundles([], { ...R2, [name]: "" });
    assert.equal(
      r,
      `STORAGE_BACKEND=r2 needs R2_BUCKET_NAME, R2_ACCOUNT_ID, R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY (missing: ${name})`,
    );
  }
  assert.match(bundles([], { ...R2, R2_ACCOUNT_ID: "a/b" }) as string, /R2_ACCOUNT_ID must be/);
});

function mirror(args: string[], env: Record<string, string>) {
  const r = parseServerArgs(args, env);
  return r.ok ? r.config.rackMirror : "error" in r ? r.error : "help";
}

Deno.test("Rack's R2 mirror is on by default in R2 mode, into R2's bucket at its root, and a flag elsewhere", () => {
  const r2Bucket = mirror([], R2);
  assert.ok(typeof r2Bucket === "object" && r2Bucket.bucket === "rack-registry");
  assert.equal(r2Bucket.prefix, "");
  assert.equal(mirror(["--rack-mirror=off"], R2), undefined);
  assert.equal(mirror([], { ...R2, RACK_MIRROR: "off" }), undefined);
  // Elsewhere: off unless asked, `on` = the bundles' bucket at its root.
  assert.equal(mirror(["--bundles=s3:registry/blobs"], CREDS), undefined);
  const on = mirror(["--bundles=s3:registry/blobs", "--rack-mirror=on"], CREDS);
  assert.ok(typeof on === "object" && on.bucket === "registry" && on.prefix === "");
  const other = mirror(["--rack-mirror=s3:rack-bucket"], CREDS);
  assert.ok(typeof other === "object" && other.bucket === "rack-bucket");
  assert.match(mirror(["--rack-mirror=on"], CREDS) as string, /needs --bundles=s3/);
  assert.match(mirror(["--rack-mirror=s3:rack-bucket/pre"], CREDS) as string, /takes no prefix/);
  assert.match(mirror(["--rack-mirror=yes"], CREDS) as string, /must be on, off or s3:<bucket>/);
  assert.match(mirror(["--rack-mirror=s3:B!"], CREDS) as string, /^--rack-mirror=s3:/);
  assert.match(
    mirror(["--rack-mirror=s3:rack-bucket"], {}) as string,
    /^--rack-mirror=s3:… needs AWS_/,
  );
});

Deno.test("in R2 mode --s3-endpoint (or S3_ENDPOINT) replaces R2's endpoint", () => {
  const spec = bundles([], { ...R2, S3_ENDPOINT: "http://127.0.0.1:9000/" });
  assert.ok(typeof spec === "object" && "endpoint" in spec);
  assert.equal(spec.endpoint, "http://127.0.0.1:9000");
  assert.match(bundles(["--s3-endpoint=ftp://x"], R2) as string, /--s3-endpoint must be/);
});
