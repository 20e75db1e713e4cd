package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDistReproducible: make dist twice gives byte-identical archives,
// SBOM and SHA256SUMS (times, owners, order and compression fixed; the Go
// build itself is reproducible with -trimpath and one toolchain: rebuilt
// from scratch with -a, it gave the same bytes, but takes two minutes, so
// the test reuses the build cache); the sums match the files, each
// archive holds the binary and what an installation needs, and the SBOM
// lists the Go modules (issue 23).
func TestDistReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the release twice")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	dist := func(dir string) {
		t.Helper()
		cmd := exec.Command("make", "-C", "../..", "dist", "DIST="+dir, "VERSION=v2.0.0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make dist: %v\n%s", err, out)
		}
	}
	a, b := t.TempDir(), t.TempDir()
	dist(a)
	dist(b)
	names := []string{"SHA256SUMS", "duo-connector_2.0.0.cdx.json", "duo-connector_2.0.0_linux_amd64.tar.gz", "duo-connector_2.0.0_linux_arm64.tar.gz"}
	entries, _ := os.ReadDir(a)
	if len(entries) != len(names) {
		t.Errorf("dist holds %d files, want %v", len(entries), names)
	}
	for _, n := range names {
		x, err := os.ReadFile(filepath.Join(a, n))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two builds of the same commit", n)
		}
	}
	sums, _ := os.ReadFile(filepath.Join(a, "SHA256SUMS"))
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, _ := strings.Cut(line, "  ")
		data, err := os.ReadFile(filepath.Join(a, name))
		if err != nil {
			t.Fatalf("SHA256SUMS names %s: %v", name, err)
		}
		if h := sha256.Sum256(data); hex.EncodeToString(h[:]) != sum {
			t.Errorf("SHA256SUMS: %s does not match", name)
		}
	}
	for _, arch := range []string{"amd64", "arm64"} {
		files := archiveFiles(t, filepath.Join(a, "duo-connector_2.0.0_linux_"+arch+".tar.gz"))
		for _, want := range []string{"duo-connector", "LICENSE", "README.md", "CHANGELOG.md", "duo-connector.example.yaml", "duo-connector.service", "duo-connector@.service", "duo-connector.sysusers.conf"} {
			mode, ok := files["duo-connector_2.0.0_linux_"+arch+"/"+want]
			switch {
			case !ok:
				t.Errorf("%s archive lacks %s", arch, want)
			case want == "duo-connector" && mode != 0o755:
				t.Errorf("%s archive: the binary's mode is %o", arch, mode)
			}
		}
	}
	var sbom struct {
		BOMFormat  string `json:"bomFormat"`
		Components []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"components"`
	}
	data, _ := os.ReadFile(filepath.Join(a, "duo-connector_2.0.0.cdx.json"))
	if err := json.Unmarshal(data, &sbom); err != nil || sbom.BOMFormat != "CycloneDX" {
		t.Fatalf("the SBOM is not CycloneDX JSON: %v", err)
	}
	found := false
	for _, c := range sbom.Components {
		found = found || c.Name == "github.com/segmentio/kafka-go" && c.Version != ""
	}
	if !found {
		t.Errorf("the SBOM does not list github.com/segmentio/kafka-go with its version")
	}
}

// archiveFiles lists a .tar.gz's files with their modes.
func archiveFiles(t *testing.T, path string) map[string]int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string]int64{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h.Mode & 0o777
	}
}
