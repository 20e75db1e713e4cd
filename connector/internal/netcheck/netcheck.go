// Package netcheck tells, in the error of a failed connection, a mistake
// of configuration (a host that does not resolve, a port nothing listens
// on, a certificate not trusted) from trouble that may pass.
package netcheck

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/duo-connector/duo-connector/connector/fault"
)

// Kind is what a connection error says about the configuration.
type Kind int

const (
	// Transient errors may pass by themselves: timeouts, resets.
	Transient Kind = iota
	// NotFound: the host name does not resolve.
	NotFound
	// Refused: nothing listens at the address.
	Refused
	// Untrusted: the server's certificate is not trusted.
	Untrusted
	// NotTLS: the server did not answer TLS.
	NotTLS
)

// Classify returns the kind of err.
func Classify(err error) Kind {
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr x509.CertificateInvalidError
	var verifyErr *tls.CertificateVerificationError
	var recordHeader tls.RecordHeaderError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return NotFound
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &certErr), errors.As(err, &verifyErr):
		return Untrusted
	case errors.As(err, &recordHeader):
		return NotTLS
	}
	return Transient
}

// Permanent reports whether err is a mistake of configuration at start-up
// (it may still pass later for a server being restarted).
func Permanent(err error) bool { return Classify(err) != Transient }

// UnreachableError is a failure to reach a service (the Duo Admin API,
// the Kafka brokers) at all, with what to check: the one type both
// clients return for it.
type UnreachableError struct {
	// Service prefixes the message ("kafka"), or nothing.
	Service string
	Err     error
	Hint    string
	// Permanent is set for mistakes of configuration (a host that does
	// not resolve, a refused connection, a certificate not trusted), not
	// for trouble that may pass (timeouts).
	Permanent bool
}

func (e *UnreachableError) Error() string {
	if e.Service != "" {
		return fmt.Sprintf("%s: %v: %s", e.Service, e.Err, e.Hint)
	}
	return fmt.Sprintf("%v: %s", e.Err, e.Hint)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Fault is Transient for trouble that may pass; a mistake of
// configuration is Permanent for Duo (one account's host) and Fatal for
// Kafka (every log writes there).
func (e *UnreachableError) Fault() fault.Kind {
	switch {
	case !e.Permanent:
		return fault.Transient
	case e.Service == "kafka":
		return fault.Fatal
	}
	return fault.Permanent
}
