package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duo-connector/duo-connector/connector/config"
)

var units = []string{"../../configs/duo-connector.service", "../../configs/duo-connector@.service"}

// TestSystemdUnit checks the shipped units carry what the daemon relies
// on, and that systemd parses them where systemd-analyze exists.
func TestSystemdUnit(t *testing.T) {
	for _, unit := range units {
		data, err := os.ReadFile(unit)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"Type=notify", "StateDirectory=duo-connector", "User=duo-connector", "ProtectSystem=strict",
			"NoNewPrivileges=yes", "Restart=on-failure", "WatchdogSec=", "Environment=DUO_CONNECTOR_STATE_DIR=%S/duo-connector",
			// A configuration error (exit 2) is not restarted forever.
			"RestartPreventExitStatus=2", "StartLimitBurst=",
			"ProtectKernelLogs=yes", "ProtectProc=invisible", "ProcSubset=pid", "RestrictRealtime=yes",
			"RestrictSUIDSGID=yes", "SystemCallFilter=~@privileged",
		} {
			if !strings.Contains(string(data), want) {
				t.Errorf("%s lacks %s", unit, want)
			}
		}
		if _, err := exec.LookPath("systemd-analyze"); err != nil {
			t.Log("systemd-analyze not installed; skipping verification")
			continue
		}
		out, _ := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line != "" && !strings.Contains(line, "is not executable") && !strings.Contains(line, "No such file") && !strings.Contains(line, "template") {
				t.Errorf("systemd-analyze %s: %s", unit, line)
			}
		}
	}
	users, err := os.ReadFile("../../configs/duo-connector.sysusers.conf")
	if err != nil || !strings.Contains(string(users), "u duo-connector ") {
		t.Errorf("the sysusers file does not create the unit's user: %v\n%s", err, users)
	}
}

// unitEnviron is the environment a unit gives the connector: its
// Environment= lines, with %S (state), %d (credentials) and %i expanded.
func unitEnviron(t *testing.T, unit, stateRoot string) []string {
	t.Helper()
	data, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Environment="); ok {
			env = append(env, strings.NewReplacer("%S", stateRoot, "%d", filepath.Join(stateRoot, "credentials"), "%i", "9101").Replace(v))
		}
	}
	return env
}

// TestUnitTakesEveryWayOfGivingSecrets: under each shipped unit's
// environment, every documented way of giving secrets loads: the keys of
// duo.*, accounts only (each with its skey_file), an MSP parent, and a
// Kafka SASL password file (issue 21, item 12: the unit once forced
// duo.skey_file, which broke a configuration listing only accounts).
func TestUnitTakesEveryWayOfGivingSecrets(t *testing.T) {
	dir := t.TempDir()
	secret := func(name string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("0123456789012345678901234567890123456789\n"), 0o640)
		return p
	}
	kafka := "kafka: {brokers: [\"127.0.0.1:9092\"]}\n"
	configs := map[string]string{
		"duo keys": "duo: {api_host: api-1.duosecurity.com, ikey: DI1, skey_file: " + secret("skey") + "}\n" + kafka,
		"accounts only": "accounts:\n  - {name: us-east, api_host: api-1.duosecurity.com, ikey: DI1, skey_file: " + secret("us-east") + "}\n" +
			"  - {name: eu, api_host: api-2.duosecurity.com, ikey: DI2, skey_file: " + secret("eu") + "}\n" + kafka,
		"msp parent": "duo: {api_host: api-1.duosecurity.com, ikey: DI1, skey_file: " + secret("parent") + ", child_accounts: {enabled: true}}\n" + kafka,
		"sasl password file": "duo: {api_host: api-1.duosecurity.com, ikey: DI1, skey_file: " + secret("skey2") + "}\n" +
			"kafka: {brokers: [\"127.0.0.1:9092\"], sasl: {mechanism: SCRAM-SHA-512, username: u, password_file: " + secret("kafka") + "}, tls: {enabled: true}}\n",
	}
	for _, unit := range units {
		env := unitEnviron(t, unit, filepath.Join(dir, "state"))
		for name, c := range configs {
			p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
			os.WriteFile(p, []byte(c), 0o640)
			cfg, err := config.Load(p, env)
			if err != nil {
				t.Errorf("%s, %s: %v", filepath.Base(unit), name, err)
				continue
			}
			if !strings.HasPrefix(cfg.StateDir, filepath.Join(dir, "state", "duo-connector")) {
				t.Errorf("%s: state_dir %s is not the unit's StateDirectory", filepath.Base(unit), cfg.StateDir)
			}
		}
	}
}
