package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// connectorBinary builds the connector for a demo; demos are end-to-end
// tests and skip with -short.
func connectorBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("slow end-to-end test; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "duo-connector")
	if out, err := exec.Command("go", "build", "-o", bin, "../duo-connector").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestDemo runs the demo as make demo does, with a smaller backlog: the
// connector drains it, and every backlog record comes back from Kafka.
func TestDemo(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"--demo", "--connector", connectorBinary(t), "--days", "0.2", "--rate", "5", "--dir", t.TempDir()}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"duo.auth_log:", `"dataset": "auth_log"`, "Messages per topic", "duo.offline_log", "duo.activity_log"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	allBack(t, out)
}

// allBack asserts the demo's summary says every backlog record came back.
func allBack(t *testing.T, out string) {
	t.Helper()
	m := regexp.MustCompile(`(\d+) of (\d+) records in the backlog`).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] || m[1] == "0" {
		t.Errorf("the demo did not get every backlog record back (%q):\n%s", m, out)
	}
}

// TestDirReusable: a sandbox restarted with the same --dir listens on the
// same addresses and writes a configuration whose CA file exists, so a
// connector (and its cursors, keyed by the API host) keeps working.
func TestDirReusable(t *testing.T) {
	dir := t.TempDir()
	first, err := start(dir, options{days: 0.01, seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	cfg1, _ := os.ReadFile(first.config)
	first.stop()
	second, err := start(dir, options{days: 0.01, seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer second.stop()
	cfg2, _ := os.ReadFile(second.config)
	if string(cfg1) != string(cfg2) {
		t.Fatalf("the configuration changed across restarts:\n%s\n---\n%s", cfg1, cfg2)
	}
	for _, line := range strings.Split(string(cfg2), "\n") {
		if f, ok := strings.CutPrefix(strings.TrimSpace(line), "ca_file: "); ok {
			if _, err := os.Stat(f); err != nil {
				t.Fatalf("ca_file: %v", err)
			}
		}
	}
}

// TestDemoOptInLogs: the sandbox with the activity log and Trust Monitor:
// the connector drains both, and every record comes back from Kafka.
func TestDemoOptInLogs(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"--demo", "--connector", connectorBinary(t), "--days", "2", "--rate", "0", "--logs", "activity,trust_monitor", "--dir", t.TempDir()}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"duo.activity_log:", "duo.trust_monitor_event:", "1640 of 1640 records in the backlog"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

// TestBadFlags: flags that cannot work are usage errors, not panics, and
// --dir is created when missing (issue 21, item 14).
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--days", "-1"}, {"--rate", "-1"}, {"--revoked", "1"}, {"--children", "1", "--revoked", "2"}} {
		var stderr bytes.Buffer
		if code := run(args, io.Discard, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, stderr.String())
		}
	}
	dir := filepath.Join(t.TempDir(), "new", "sandbox")
	sb, err := start(dir, options{days: 0.01, seed: 1})
	if err == nil {
		sb.stop()
	}
	if code := run([]string{"--demo", "--connector", "/nonexistent", "--days", "0.01", "--dir", dir}, io.Discard, io.Discard); code != 1 {
		t.Errorf("demo without a connector: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "duo-connector.yaml")); err != nil {
		t.Errorf("--dir %s was not created: %v", dir, err)
	}
}

// TestDemoChildren: an MSP sandbox: every readable child's records come
// back from Kafka; a revoked child's do not (issue 21, item 14).
func TestDemoChildren(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"--demo", "--connector", connectorBinary(t), "--days", "0.05", "--rate", "0", "--children", "3", "--revoked", "1", "--dir", t.TempDir()}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{"an MSP: 3 child accounts (1 revoked)", "revoked children's logs failed"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout.String())
		}
	}
	allBack(t, stdout.String())
}
