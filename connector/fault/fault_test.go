package fault_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/fault"
	"github.com/duo-connector/duo-connector/connector/internal/netcheck"
	"github.com/duo-connector/duo-connector/connector/publish"
)

// TestOf: each package's errors answer the one question, wrapped or not.
func TestOf(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("poll auth logs: %w", err) }
	for _, tc := range []struct {
		name string
		err  error
		want fault.Kind
	}{
		{"plain", errors.New("connection reset"), fault.Transient},
		{"duo 429", &duo.APIError{StatusCode: 429}, fault.Transient},
		{"duo 503", &duo.APIError{StatusCode: 503}, fault.Transient},
		{"duo 401", &duo.APIError{StatusCode: 401}, fault.Permanent},
		{"duo retries spent", &duo.TransientError{Attempts: 5, Err: errors.New("x")}, fault.Transient},
		{"duo host unresolved", &netcheck.UnreachableError{Err: errors.New("x"), Permanent: true}, fault.Permanent},
		{"duo timeout", &netcheck.UnreachableError{Err: errors.New("x")}, fault.Transient},
		{"kafka brokers unresolved", &netcheck.UnreachableError{Service: "kafka", Err: errors.New("x"), Permanent: true}, fault.Fatal},
		{"kafka timeout", &netcheck.UnreachableError{Service: "kafka", Err: errors.New("x")}, fault.Transient},
		{"kafka credentials", &publish.FatalError{Err: errors.New("SASL")}, fault.Fatal},
		{"kafka one topic", &publish.FatalError{Err: errors.New("unknown topic"), Topic: "duo-a"}, fault.Permanent},
		{"corrupt cursor", &checkpoint.CorruptError{Path: "x", Reason: errors.New("x")}, fault.Fatal},
	} {
		if got := fault.Of(tc.err); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
		if got := fault.Of(wrap(tc.err)); got != tc.want {
			t.Errorf("%s, wrapped: %s, want %s", tc.name, got, tc.want)
		}
	}
}
