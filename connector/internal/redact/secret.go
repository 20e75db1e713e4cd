package redact

// Secret is a string that never prints: %v, %s, %#v, logs, errors and a
// re-encoded configuration show "[REDACTED]". Value returns the secret
// itself, for the one place that needs it (signing, authenticating).
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[REDACTED]"
}

// GoString keeps %#v from printing the secret.
func (s Secret) GoString() string { return s.String() }

// MarshalYAML keeps the secret out of a re-encoded configuration.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// Value returns the secret.
func (s Secret) Value() string { return string(s) }
