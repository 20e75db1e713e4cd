// Package fault classifies errors by what is to be done about them: the
// one question callers ask, instead of knowing every error type of every
// package. Each error type that knows better than "try again" says so
// with a Fault method.
package fault

import (
	"errors"
	"fmt"
)

// Kind is what an error asks of the connector.
type Kind int

const (
	// Transient errors may pass by themselves: try again later (an
	// outage, a timeout, a rate limit). Errors that do not say otherwise
	// are transient.
	Transient Kind = iota
	// Permanent errors need a person, but concern one account, log or
	// topic: the others go on (revoked keys, a missing topic).
	Permanent
	// Fatal errors need a person and concern everything: the connector
	// stops (Kafka refusing its credentials, unreadable cursors).
	Fatal
	// Config errors are a setting or a command line that cannot work
	// here, found before anything was read (an account no one has, a
	// listen address taken): the operator's to fix; the command exits 2.
	Config
)

func (k Kind) String() string {
	switch k {
	case Permanent:
		return "permanent"
	case Fatal:
		return "fatal"
	case Config:
		return "configuration"
	}
	return "transient"
}

// Classified is an error that knows its kind.
type Classified interface {
	error
	Fault() Kind
}

// Of is err's kind: that of the first error in its chain that knows its
// kind, else Transient. Of(nil) is Transient.
func Of(err error) Kind {
	var c Classified
	if errors.As(err, &c) {
		return c.Fault()
	}
	return Transient
}

// ConfigError is a setting or a command line that cannot work: Fault is
// Config.
type ConfigError struct{ Err error }

// Configf is a *ConfigError with a formatted message.
func Configf(format string, args ...any) error {
	return &ConfigError{fmt.Errorf(format, args...)}
}

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }
func (e *ConfigError) Fault() Kind   { return Config }
