package metrics

import (
	"os"
	"regexp"
	"testing"
)

// TestREADMEListsEveryMetric: the README's metrics table names every
// metric the connector exports (issue 21, item 17: the cluster metrics
// were missing).
func TestREADMEListsEveryMetric(t *testing.T) {
	src, err := os.ReadFile("metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`"(duo_connector_[a-z_]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(names) < 10 {
		t.Fatalf("found %d metric names in metrics.go", len(names))
	}
	for _, n := range names {
		if !regexp.MustCompile("(?m)^\\| `" + n[1] + "`").Match(readme) {
			t.Errorf("README's metrics table lacks %s", n[1])
		}
	}
}
