package metrics_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/metrics"
)

const rulesDir = "../../configs/prometheus"

// promtool is Prometheus's rule checker; .ci/run installs it.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed (.ci/run installs it from Debian's prometheus package)")
		}
		t.Skip("promtool is not installed (Debian's prometheus package has it); skipping the alert rules' checks")
	}
	return path
}

// TestAlertRules: the rules pass promtool's check, and its unit tests
// (each alert fires on the series it is for, and not on healthy ones).
func TestAlertRules(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "duo-connector.rules.yml"},
		{"test", "rules", "duo-connector.rules.test.yml"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = rulesDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestAlertRulesUseExportedMetrics: every metric the alert rules use is
// on a connector's /metrics from its first scrape (before any poll), so
// that a renamed metric breaks the build, not an alert that then matches
// nothing.
func TestAlertRulesUseExportedMetrics(t *testing.T) {
	data, err := os.ReadFile(rulesDir + "/duo-connector.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	exported := scrapeNames(t)
	used := regexp.MustCompile(`\bduo_connector_[a-z_]+`)
	n := 0
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			for _, name := range used.FindAllString(r.Expr, -1) {
				n++
				if !exported[name] {
					t.Errorf("alert %s uses %s, which a connector does not export", r.Alert, name)
				}
			}
		}
	}
	if n < 8 {
		t.Errorf("only %d metric uses found in the rules: is the file read right?", n)
	}
}

// scrapeNames are the metric names of a connector's first scrape: one
// account's log tracked, in cluster mode (whose gauges single-process
// mode leaves out).
func scrapeNames(t *testing.T) map[string]bool {
	t.Helper()
	m := metrics.New()
	m.Track("acme", duo.Auth)
	m.ClusterGeneration(1, []int{0})
	rec := httptest.NewRecorder()
	m.Handler(metrics.Health{Interval: time.Minute}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	names := map[string]bool{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}
