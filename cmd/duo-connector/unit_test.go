package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestSystemdUnit checks the shipped unit carries what the daemon relies
// on, and that systemd parses it where systemd-analyze exists.
func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile("../../configs/duo-connector.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Type=notify", "StateDirectory=duo-connector", "DynamicUser=yes", "ProtectSystem=strict",
		"NoNewPrivileges=yes", "Restart=on-failure", "LoadCredential=skey:", "WatchdogSec=",
		"Environment=DUO_CONNECTOR_DUO_SKEY_FILE=%d/skey", "Environment=DUO_CONNECTOR_STATE_DIR=%S/duo-connector",
		// A configuration error (exit 2) is not restarted forever.
		"RestartPreventExitStatus=2", "StartLimitBurst=",
		"ProtectKernelLogs=yes", "ProtectProc=invisible", "ProcSubset=pid", "RestrictRealtime=yes",
		"RestrictSUIDSGID=yes", "SystemCallFilter=~@privileged",
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("unit lacks %s", want)
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze not installed; skipping verification")
		return
	}
	out, _ := exec.Command("systemd-analyze", "verify", "../../configs/duo-connector.service").CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" && !strings.Contains(line, "is not executable") && !strings.Contains(line, "No such file") {
			t.Errorf("systemd-analyze: %s", line)
		}
	}
}
