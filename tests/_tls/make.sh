#!/bin/sh
# Test-only TLS material for server/pinned_fetch_test.ts: a CA and two server
# certificates it signed, for hooks.example.test and other.example.test
# (names that resolve nowhere). Valid for 100 years; rerun to replace.
set -eu
cd "$(dirname "$0")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
  -days 36500 -subj "/CN=registry test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign"
for name in hooks.example.test other.example.test; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" \
    -out "$name.csr" -subj "/CN=$name"
  printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$name" >ext.cnf
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$name.pem" \
    -days 36500 -extfile ext.cnf
  rm "$name.csr"
done
rm ca.key ca.srl ext.cnf
