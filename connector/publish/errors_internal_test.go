package publish

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestErrorsWithoutGoNames: kafka-go's method names are left out of the
// texts operators read, and the error still unwraps to kafka-go's
// (issue 21, item 16).
func TestErrorsWithoutGoNames(t *testing.T) {
	inner := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	err := withoutGoNames(fmt.Errorf("kafka.(*Client).Metadata: %w", inner))
	if got := err.Error(); got != inner.Error() {
		t.Errorf("text %q, want %q", got, inner)
	}
	if !errors.Is(err, inner) {
		t.Error("the error no longer unwraps to kafka-go's")
	}
	fe := &FatalError{Err: fmt.Errorf("kafka.(*Client).Metadata: %w", inner), Topic: "duo"}
	if got := fe.Error(); strings.Contains(got, "(*Client)") {
		t.Errorf("FatalError text %q", got)
	}
}
