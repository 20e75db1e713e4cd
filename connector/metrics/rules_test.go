package metrics_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
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

// TestDashboard: every query of the Grafana dashboard parses as PromQL
// (promtool checks them as recording rules, the dashboard's variables
// given values) and uses only metrics a connector exports from its
// first scrape.
func TestDashboard(t *testing.T) {
	data, err := os.ReadFile("../../configs/grafana/duo-connector.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	exported := scrapeNames(t)
	names := regexp.MustCompile(`\b(duo_connector_[a-z_]+)`)
	vars := strings.NewReplacer("$job", "duo-connector", "$__rate_interval", "5m")
	type recording struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []recording
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			for _, name := range names.FindAllString(q.Expr, -1) {
				if !exported[name] {
					t.Errorf("panel %q uses %s, which a connector does not export", p.Title, name)
				}
			}
			rules = append(rules, recording{Record: fmt.Sprintf("dashboard:query%d", len(rules)), Expr: vars.Replace(q.Expr)})
		}
	}
	if len(rules) < 15 {
		t.Fatalf("only %d queries in the dashboard: is it read right?", len(rules))
	}
	bin := promtool(t)
	out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command(bin, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("a dashboard query does not parse: %v\n%s", err, msg)
	}
}

// scrapeNames are the metric names of a connector's first scrape (as
// app.Build and the runner set them up): one account's log tracked, in
// cluster mode (whose gauges single-process mode leaves out).
func scrapeNames(t *testing.T) map[string]bool {
	t.Helper()
	m := metrics.New()
	m.SetBuild(metrics.BuildOf("test"))
	m.Track("acme", duo.Auth, duo.PathAuthV2)
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
