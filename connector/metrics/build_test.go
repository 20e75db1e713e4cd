package metrics_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/metrics"
)

// TestBuildInfo: the build's version, revision and Go version are one
// series of value 1.
func TestBuildInfo(t *testing.T) {
	m := metrics.New()
	b := metrics.BuildOf("1.2.3")
	if b.Version != "1.2.3" || !strings.HasPrefix(b.GoVersion, "go") {
		t.Fatalf("build %+v", b)
	}
	m.SetBuild(b)
	h := m.Handler(metrics.Health{Interval: time.Minute, Kafka: func(context.Context) error { return nil }})
	_, body := get(t, h, "/metrics")
	want := `duo_connector_build_info{goversion="` + b.GoVersion + `",revision="` + b.Revision + `",version="1.2.3"} 1`
	if !strings.Contains(body, want) {
		t.Fatalf("/metrics lacks %s", want)
	}
}
