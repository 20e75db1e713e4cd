package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/kafkatest"
)

// TestImage builds the container image as make image does and runs it
// with buildah against a fake Duo and a Kafka broker on loopback (chroot
// isolation shares the host's network): run --once publishes the records,
// version prints the build's version and commit, the process runs as uid
// 65532, and there is no shell in the image (issue 23).
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a container image")
	}
	buildah, err := exec.LookPath("buildah")
	if err != nil || os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("buildah (apt-get install buildah) and root are needed to build the image")
		}
		t.Skip("buildah is not installed or this is not root; skipping the image test")
	}
	b := func(args ...string) (string, error) {
		out, err := exec.Command(buildah, append([]string{"--storage-driver", "vfs"}, args...)...).CombinedOutput()
		return string(out), err
	}
	bin := t.TempDir()
	image := fmt.Sprintf("duo-connector:test-%d", time.Now().UnixNano())
	const version = "v9.9.9-imagetest"
	// podman and docker stand-ins that say how they were called: make
	// image loads the archive into the stores of those present.
	fakes, calls := t.TempDir(), filepath.Join(t.TempDir(), "calls")
	for _, tool := range []string{"podman", "docker"} {
		script := fmt.Sprintf("#!/bin/sh\necho %s \"$@\" >>%s\n", tool, calls)
		if err := os.WriteFile(filepath.Join(fakes, tool), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	make := exec.Command("make", "-C", "../..", "image", "BIN="+bin, "IMAGE="+image, "VERSION="+version)
	make.Env = append(os.Environ(), "PATH="+fakes+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := make.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Cleanup(func() { b("manifest", "rm", image) })
	archive := filepath.Join(bin, "duo-connector-image.tar")
	checkArchive(t, archive, image)
	called, _ := os.ReadFile(calls)
	for _, want := range []string{"podman load --quiet --input " + archive, "docker info", "docker load --quiet --input " + archive} {
		if !strings.Contains(string(called), want+"\n") {
			t.Errorf("make image did not run %q; it ran:\n%s", want, called)
		}
	}

	ctr := fmt.Sprintf("duo-connector-test-%d", time.Now().UnixNano())
	if out, err := b("from", "--arch", "amd64", "--name", ctr, image); err != nil {
		t.Fatalf("buildah from: %v\n%s", err, out)
	}
	t.Cleanup(func() { b("rm", ctr) })
	revision, _ := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	out, err := b("run", "--isolation", "chroot", ctr, "--", "/usr/bin/duo-connector", "version")
	if err != nil || !strings.Contains(out, version) || len(revision) == 0 || !strings.Contains(out, strings.TrimSpace(string(revision))) {
		t.Errorf("version in the image: %v\n%s\nwant %s and commit %s", err, out, version, revision)
	}
	if out, _ := b("inspect", "--format", "{{.OCIv1.Config.User}}", ctr); strings.TrimSpace(out) != "65532:65532" {
		t.Errorf("the image's user is %q, want 65532:65532", out)
	}
	if out, err := b("run", "--isolation", "chroot", ctr, "--", "/bin/sh", "-c", "true"); err == nil {
		t.Errorf("the image has a shell:\n%s", out)
	}

	// run --once against the fake Duo and Kafka; the host's files are
	// mounted at the same paths.
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 300})
	state := t.TempDir()
	w.stateDir = state
	cfg := w.config(t, "logs: [auth]")
	var mounts []string
	for _, p := range []string{w.skeyFile, w.duo.CAFile, cfg, state} {
		dir := p
		if p != state {
			dir = filepath.Dir(p)
		}
		// The container's user must read them: test files only.
		os.Chmod(dir, 0o755)
		if p != state {
			os.Chmod(p, 0o644)
		}
		mounts = append(mounts, "-v", dir+":"+dir)
	}
	os.Chmod(state, 0o777)
	args := append([]string{"run", "--isolation", "chroot"}, mounts...)
	args = append(args, ctr, "--", "/usr/bin/duo-connector", "run", "--once", "--config", cfg)
	if out, err := b(args...); err != nil {
		t.Fatalf("run --once in the image: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, err := kafkatest.ReadAll(ctx, w.kafka.Addr, "duo.auth_log")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 300 {
		t.Errorf("the image's run published %d records, want 300", len(recs))
	}
	entries, _ := os.ReadDir(state)
	owned := 0
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Sys().(*syscall.Stat_t).Uid == 65532 {
			owned++
		}
	}
	if owned == 0 {
		t.Errorf("no file of the state directory is owned by uid 65532 (%d entries): the process did not run as the image's user", len(entries))
	}
}

// checkArchive: the OCI archive's index holds one list, named image (the
// name podman load and docker load give it), of a linux/amd64 and a
// linux/arm64 image.
func checkArchive(t *testing.T, path, image string) {
	t.Helper()
	var index struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(tarEntry(t, path, "index.json"), &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v, %d manifests, want one list", err, len(index.Manifests))
	}
	if name := index.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; name != image {
		t.Errorf("the archive names its image %q, want %q", name, image)
	}
	var list struct {
		Manifests []struct {
			Platform struct {
				OS           string `json:"os"`
				Architecture string `json:"architecture"`
			} `json:"platform"`
		} `json:"manifests"`
	}
	blob := "blobs/sha256/" + strings.TrimPrefix(index.Manifests[0].Digest, "sha256:")
	if err := json.Unmarshal(tarEntry(t, path, blob), &list); err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, m := range list.Manifests {
		platforms = append(platforms, m.Platform.OS+"/"+m.Platform.Architecture)
	}
	slices.Sort(platforms)
	if strings.Join(platforms, " ") != "linux/amd64 linux/arm64" {
		t.Errorf("the image's platforms are %v, want linux/amd64 and linux/arm64", platforms)
	}
}

// tarEntry is the content of the tar archive's entry name.
func tarEntry(t *testing.T, path, name string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no %s: %v", path, name, err)
		}
		if h.Name == name {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return data
		}
	}
}
