package dataplane

import (
	"crypto/tls"
	"fmt"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// secretEntry is a validated SDS Secret.
type secretEntry struct {
	proto      *tlsv3.Secret
	cert       *tls.Certificate                    // tls_certificate, parsed
	validation *tlsv3.CertificateValidationContext // validation_context, checked
}

// secretSet is an immutable set of secrets by name. A new SDS response makes
// a new set; its pointer identity invalidates cached tls.Configs.
type secretSet struct {
	byName map[string]*secretEntry
}

func (s *secretSet) get(name string) *secretEntry {
	if s == nil {
		return nil
	}
	return s.byName[name]
}

// validateSecret parses a Secret. Errors never include key material.
func validateSecret(s *tlsv3.Secret) (*secretEntry, error) {
	if err := pgv(s); err != nil {
		return nil, err
	}
	if err := checkFields(s, "name", "tls_certificate", "validation_context", "generic_secret", "session_ticket_keys"); err != nil {
		return nil, err
	}
	e := &secretEntry{proto: s}
	switch t := s.GetType().(type) {
	case *tlsv3.Secret_TlsCertificate:
		cert, err := loadTLSCertificate(t.TlsCertificate)
		if err != nil {
			return nil, at("tls_certificate", err)
		}
		e.cert = cert
	case *tlsv3.Secret_ValidationContext:
		if _, err := compileValidation(t.ValidationContext, true); err != nil {
			return nil, at("validation_context", err)
		}
		e.validation = t.ValidationContext
	case nil:
		return nil, fmt.Errorf("secret has no type (tls_certificate or validation_context)")
	}
	return e, nil
}
