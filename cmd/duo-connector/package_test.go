package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestDebPackage builds the packages as make package does, installs the
// .deb with dpkg, and checks what an operator gets: the binary, units
// that pass systemd-analyze verify, the system user, the state directory
// and the configuration with the right owners, no service started; then
// removes it cleanly (issue 23). It changes the machine, so it runs in CI
// (or with DUO_CONNECTOR_PACKAGE_TEST=1), as root, where no duo-connector
// package is installed.
func TestDebPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and installs a package")
	}
	if os.Getenv("CI") == "" && os.Getenv("DUO_CONNECTOR_PACKAGE_TEST") == "" {
		t.Skip("installs a package on this machine: set DUO_CONNECTOR_PACKAGE_TEST=1 (CI does)")
	}
	if os.Getuid() != 0 {
		t.Fatal("dpkg -i needs root")
	}
	for _, tool := range []string{"dpkg", "systemd-analyze", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed: %v", tool, err)
		}
	}
	if exec.Command("dpkg", "-s", "duo-connector").Run() == nil {
		t.Skip("a duo-connector package is installed here already; not touching it")
	}
	sh := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	bin := t.TempDir()
	sh("make", "-C", "../..", "package", "BIN="+bin, "VERSION=v1.2.3-test")
	for _, want := range []string{"duo-connector_1.2.3.test_amd64.deb", "duo-connector_1.2.3.test_arm64.deb",
		"duo-connector-1.2.3.test-1.x86_64.rpm", "duo-connector-1.2.3.test-1.aarch64.rpm"} {
		if _, err := os.Stat(filepath.Join(bin, want)); err != nil {
			t.Errorf("make package did not write %s: %v", want, err)
		}
	}
	deb := filepath.Join(bin, "duo-connector_1.2.3.test_amd64.deb")
	out := sh("dpkg", "-i", deb)
	t.Cleanup(func() { exec.Command("dpkg", "-P", "duo-connector").Run() })
	if !strings.Contains(out, "systemctl enable --now duo-connector") {
		t.Errorf("the installation does not say what to do next:\n%s", out)
	}
	if v := sh("/usr/bin/duo-connector", "version"); !strings.Contains(v, "v1.2.3-test") {
		t.Errorf("the installed binary says %q", v)
	}
	for _, unit := range []string{"duo-connector.service", "duo-connector@9464.service"} {
		path := "/usr/lib/systemd/system/" + strings.Replace(unit, "@9464", "@", 1)
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("unit %s: %v", path, err)
		}
		// verify takes a unit file; an instance is checked by its name.
		args := []string{"verify", path}
		if strings.Contains(unit, "@9464") {
			args = []string{"verify", unit}
		}
		if out, err := exec.Command("systemd-analyze", args...).CombinedOutput(); err != nil {
			t.Errorf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if out := sh("getent", "passwd", "duo-connector"); !strings.Contains(out, "/var/lib/duo-connector") {
		t.Errorf("system user: %s", out)
	}
	owner := func(path string) (uid, gid uint32, mode os.FileMode) {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		st := info.Sys().(*syscall.Stat_t)
		return st.Uid, st.Gid, info.Mode().Perm()
	}
	uid := strings.TrimSpace(sh("id", "-u", "duo-connector"))
	gid := strings.TrimSpace(sh("id", "-g", "duo-connector"))
	if u, g, m := owner("/var/lib/duo-connector"); itoa(u) != uid || itoa(g) != gid || m != 0o700 {
		t.Errorf("/var/lib/duo-connector: %d:%d %o, want duo-connector's and 0700", u, g, m)
	}
	if u, g, m := owner("/etc/duo-connector/duo-connector.yaml"); u != 0 || itoa(g) != gid || m != 0o640 {
		t.Errorf("the configuration: %d:%d %o, want root:duo-connector 0640 (it may hold the secret key)", u, g, m)
	}
	// An administrator's edit survives an upgrade (the same package again).
	os.WriteFile("/etc/duo-connector/duo-connector.yaml", []byte("# edited\n"), 0o640)
	sh("dpkg", "-i", deb)
	if data, _ := os.ReadFile("/etc/duo-connector/duo-connector.yaml"); string(data) != "# edited\n" {
		t.Errorf("reinstalling replaced the edited configuration")
	}
	sh("dpkg", "-r", "duo-connector")
	if _, err := os.Stat("/usr/bin/duo-connector"); !os.IsNotExist(err) {
		t.Errorf("the binary is still there after dpkg -r: %v", err)
	}
	sh("dpkg", "-P", "duo-connector")
	if _, err := os.Stat("/etc/duo-connector/duo-connector.yaml"); !os.IsNotExist(err) {
		t.Errorf("the configuration is still there after dpkg -P: %v", err)
	}
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
