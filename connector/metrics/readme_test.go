package metrics

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEListsEveryMetric: the README's metrics table names every
// metric the connector exports (issue 21, item 17: the cluster metrics
// were missing).
func TestREADMEListsEveryMetric(t *testing.T) {
	var src []byte
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src = append(src, b...)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`"(duo_connector_[a-z_]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(names) < 10 {
		t.Fatalf("found %d metric names in the package", len(names))
	}
	for _, n := range names {
		if !regexp.MustCompile("(?m)^\\| `" + n[1] + "`").Match(readme) {
			t.Errorf("README's metrics table lacks %s", n[1])
		}
	}
}
