#!/bin/sh
# Nightly backup of @x/registry: an export with an integrity trailer, kept 14 days.
# Run from cron or a systemd timer as the registry user:
#   15 3 * * *  /opt/registry/deploy/backup.sh
# Restore into an empty store (a killed restore resumes when run again):
#   deno run -A --unstable-kv /opt/registry/main.ts import --in=<file> --storage=kv:/var/lib/registry-restored/registry.kv
set -eu
DATA_DIR="${DATA_DIR:-/var/lib/registry}"
BACKUP_DIR="${BACKUP_DIR:-/var/backups/registry}"
mkdir -p "$BACKUP_DIR"
FILE="$BACKUP_DIR/registry-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
# Export reads a consistent snapshot per page while the server keeps serving.
deno run -A --unstable-kv /opt/registry/main.ts export --out="$FILE" --data-dir="$DATA_DIR" --json
find "$BACKUP_DIR" -name 'registry-*.jsonl' -mtime +14 -delete
