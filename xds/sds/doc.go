// Package sds serves the gateways' SDS identity secrets from meshgate's CA:
// it is the xds/server.SecretProvider of `meshgate run`.
//
//	identity.CA (cacerts dir │ ca-dir │ ephemeral) ─▶ identity.Manager (SVIDs, renewed at half life)
//	                                                                  │
//	model.ClusterState trust bundles (SetBundles) ─▶ ROOTCA ──┐       ▼
//	                                                          ├─▶ IdentitySecrets(node) ─▶ xds/server
//	                                          "default" SVID ─┘
//
// "default" is the gateway's SVID, spiffe://<td>/ns/<ns>/sa/<sa>; "ROOTCA"
// holds the roots of every trust domain the mesh knows: the local CA's and
// the trust bundles other clusters publish. Run renews SVIDs and tells the
// xDS server (Changed) when one was renewed. Key material is never logged.
//
// Imports: identity, discovery/model and xds/server; nothing imports it but
// cmd/.
package sds
