/**
 * The file-system {@linkcode MigrationSource}: a read-only view of a directory
 * that never follows symlinks (a symlink is reported as one, so a source
 * cannot pull in files from outside itself).
 *
 * @module
 */
import type { MigrationSource, SourceEntry, SourceFile } from "../core/migrate/_common.ts";
import { SourceError } from "../core/migrate/_common.ts";

function kindOf(info: Deno.FileInfo): SourceEntry["kind"] {
  return info.isSymlink ? "symlink" : info.isFile ? "file" : info.isDirectory ? "dir" : "other";
}

function fault(path: string, err: unknown): SourceError {
  const why = err instanceof Deno.errors.PermissionDenied
    ? "cannot be read (permission denied)"
    : `cannot be read (${err instanceof Error ? err.message.split("\n")[0] : String(err)})`;
  return new SourceError(path === "" ? "." : path, why);
}

/** A file's size (0 when it vanished since its folder was read). */
async function sizeOf(file: string, path: string): Promise<number> {
  try {
    return (await Deno.lstat(file)).size;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return 0;
    throw fault(path, err);
  }
}

/** An open file whose faults name the path. */
function sourceFile(file: Deno.FsFile, path: string): SourceFile {
  let open = true;
  return {
    async read(buffer) {
      try {
        return await file.read(buffer);
      } catch (err) {
        throw fault(path, err);
      }
    },
    close() {
      if (open) file.close();
      open = false;
    },
  };
}

/** A source over the directory `root`. */
export function fsSource(root: string): MigrationSource {
  const at = (path: string) => (path === "" ? root : `${root}/${path}`);
  return {
    async list(path) {
      let info: Deno.FileInfo;
      try {
        info = await Deno.lstat(at(path));
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) return null;
        throw fault(path, err);
      }
      if (!info.isDirectory) return null;
      const out: SourceEntry[] = [];
      try {
        for await (const e of Deno.readDir(at(path))) {
          const child = path === "" ? e.name : `${path}/${e.name}`;
          const s = await Deno.lstat(at(child));
          out.push({ name: e.name, kind: kindOf(s), size: s.size });
        }
      } catch (err) {
        throw fault(path, err);
      }
      return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
    async *entries(path) {
      let listing: AsyncIterable<Deno.DirEntry>;
      try {
        if (!(await Deno.lstat(at(path))).isDirectory) return;
        listing = Deno.readDir(at(path));
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) return;
        throw fault(path, err);
      }
      const iterator = listing[Symbol.asyncIterator]();
      for (;;) {
        let next: IteratorResult<Deno.DirEntry>;
        try {
          next = await iterator.next();
        } catch (err) {
          throw fault(path, err);
        }
        if (next.done) return;
        const e = next.value;
        const child = path === "" ? e.name : `${path}/${e.name}`;
        // Only a file's size is needed; folders are not stat-ed twice.
        const size = e.isFile ? await sizeOf(at(child), child) : 0;
        const kind = e.isSymlink ? "symlink" : e.isFile ? "file" : e.isDirectory ? "dir" : "other";
        yield { name: e.name, kind, size };
      }
    },
    async read(path) {
      try {
        return await Deno.readFile(at(path));
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) return null;
        throw fault(path, err);
      }
    },
    async open(path) {
      let file: Deno.FsFile;
      try {
        file = await Deno.open(at(path), { read: true });
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) return null;
        throw fault(path, err);
      }
      return sourceFile(file, path);
    },
    async stat(path) {
      try {
        const s = await Deno.lstat(at(path));
        return {
          name: path.split("/").at(-1) ?? path,
          kind: kindOf(s),
          size: s.size,
          ...(s.mtime ? { mtime: s.mtime.toISOString() } : {}),
        };
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) return null;
        throw fault(path, err);
      }
    },
  };
}
