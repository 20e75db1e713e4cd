package redact_test

import (
	"strings"
	"testing"

	"github.com/duo-connector/duo-connector/connector/internal/redact"
)

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://proxy.example:3128", "http://proxy.example:3128"},
		{"http://user:s3cret@proxy.example:3128", "http://user:xxxxx@proxy.example:3128"},
		{"http://user@proxy.example:3128", "http://user@proxy.example:3128"},
		{"http://user:s3cret@proxy.example:port", "http://xxxxx@proxy.example:port"},
		{"user:s3cret@proxy.example:3128", "xxxxx@proxy.example:3128"},
		{"http://us er:s3cret@proxy", "http://xxxxx@proxy"},
		{"kafka-1:9092", "kafka-1:9092"},
	}
	for _, tt := range tests {
		got := redact.URL(tt.in)
		if got != tt.want || strings.Contains(got, "s3cret") {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
