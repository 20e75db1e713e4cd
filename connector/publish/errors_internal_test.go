package publish

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
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

// TestDaemonRetriesGetTheHints: the hints a one-shot run's check gives
// (a name that does not resolve, nothing listening) are given with the
// daemon's write retries too (issue 21, item 10).
func TestDaemonRetriesGetTheHints(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "kafka-1.invalid", IsNotFound: true}}, "does not resolve"},
		{&net.OpError{Op: "dial", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}, "nothing listens at kafka.brokers"},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), "check kafka.sasl"},
	} {
		if got := connectionHint(tc.err); !strings.Contains(got, tc.want) {
			t.Errorf("connectionHint(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
