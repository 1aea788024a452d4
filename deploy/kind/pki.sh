#!/usr/bin/env bash
# Creates the mesh's trust: one root shared by every cluster and an
# Istio-style intermediate CA ("cacerts": ca-cert.pem, ca-key.pem,
# root-cert.pem, cert-chain.pem) per cluster, in $KIND_WORK/pki. The daemon
# of each cluster issues gateway SVIDs from its cacerts (meshgate run
# --cacerts); workload SVIDs come from `meshgate cert issue --cacerts`.
# Usage: deploy/kind/pki.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
need openssl

pki=$KIND_WORK/pki
mkdir -p "$pki"
if [ ! -f "$pki/root-key.pem" ]; then
  log "root CA for $TRUST_DOMAIN"
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/root-key.pem"
  openssl req -x509 -new -key "$pki/root-key.pem" -days 30 -subj "/O=meshgate-e2e/CN=root" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectAltName=URI:spiffe://$TRUST_DOMAIN" -out "$pki/root-cert.pem"
fi
for i in $(clusters); do
  dir=$pki/cacerts-$(cluster_id "$i")
  [ -f "$dir/ca-key.pem" ] && continue
  log "intermediate CA of $(cluster_id "$i")"
  mkdir -p "$dir"
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/ca-key.pem"
  openssl req -new -key "$dir/ca-key.pem" -subj "/O=meshgate-e2e/CN=$(cluster_id "$i")" -out "$dir/ca.csr"
  printf '%s\n' "basicConstraints=critical,CA:TRUE" "keyUsage=critical,keyCertSign,cRLSign" \
    "subjectAltName=URI:spiffe://$TRUST_DOMAIN" >"$dir/ext.cnf"
  openssl x509 -req -in "$dir/ca.csr" -CA "$pki/root-cert.pem" -CAkey "$pki/root-key.pem" -CAcreateserial \
    -days 30 -extfile "$dir/ext.cnf" -out "$dir/ca-cert.pem"
  cp "$pki/root-cert.pem" "$dir/root-cert.pem"
  cat "$dir/ca-cert.pem" "$pki/root-cert.pem" >"$dir/cert-chain.pem"
  rm -f "$dir/ca.csr" "$dir/ext.cnf"
done
