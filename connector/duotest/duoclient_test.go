package duotest_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
	"github.com/duo-connector/duo-connector/connector/duotest"
)

// debianPython is where Debian's python3-duo-client lives; the python3
// first on PATH may be another installation without it.
const debianPython = "/usr/bin/python3"

// TestDuoPythonClient pages the fake's auth v2, admin, offline, telephony
// v1, activity and Trust Monitor endpoints with Duo's own Python client (Debian's
// python3-duo-client), with each signature variant it offers. It proves
// the fake's signature checks and response shapes match Duo's client.
func TestDuoPythonClient(t *testing.T) {
	if testing.Short() {
		t.Skip("slow end-to-end test; skipped with -short")
	}
	if err := exec.Command(debianPython, "-c", "import duo_client").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Duo's Python client is not installed (apt-get install python3-duo-client): %v", err)
		}
		t.Skipf("skipping: %s cannot import duo_client (apt-get install python3-duo-client)", debianPython)
	}
	srv := duotest.New(t)

	now := time.Now()
	from, to := now.Add(-3*time.Hour), now.Add(-10*time.Minute)
	gen := duotest.NewGenerator(7)
	want := map[string][]duotest.Record{
		"auth":          append(gen.Spread(duo.Auth, from, to, 2300), gen.Burst(duo.Auth, from.Add(time.Hour), 1200)...),
		"admin":         append(gen.Spread(duo.Admin, from, to, 1500), gen.Burst(duo.Admin, from.Add(time.Hour), 1100)...),
		"offline":       gen.Spread(duo.Offline, from, to, 300),
		"activity":      gen.Spread(duo.Activity, from, to, 1700),
		"trust_monitor": gen.Spread(duo.TrustMonitor, from, to, 450),
	}
	for range 1200 {
		want["telephony_v1"] = append(want["telephony_v1"], gen.TelephonyV1(from.Add(time.Duration(len(want["telephony_v1"]))*5*time.Second)))
	}
	for _, recs := range want {
		srv.Add(recs...)
	}

	t.Run("wrong secret key", func(t *testing.T) {
		cmd := exec.Command(debianPython, "testdata/duo_client_pager.py", srv.Host, srv.IKey, srv.SKey+"x", srv.CAFile,
			strconv.FormatInt(from.Unix(), 10), strconv.FormatInt(to.Unix(), 10), "sha512")
		out, err := cmd.CombinedOutput()
		if err == nil || !bytes.Contains(out, []byte("401 Invalid signature")) {
			t.Fatalf("a bad signature was not refused with 401 Invalid signature: %v\n%s", err, out)
		}
	})
	for _, variant := range []string{"sha1", "sha512", "v4"} {
		t.Run(variant, func(t *testing.T) {
			srv.ResetRequests()
			cmd := exec.Command(debianPython, "testdata/duo_client_pager.py", srv.Host, srv.IKey, srv.SKey, srv.CAFile,
				strconv.FormatInt(from.Add(-time.Minute).Unix(), 10), strconv.FormatInt(to.Unix(), 10), variant)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("Duo's client failed: %v\n%s", err, stderr.String())
			}
			var got map[string][]json.RawMessage
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			for name, recs := range want {
				// Compare as sets of canonical records: the client
				// re-serializes what it received.
				count := map[string]int{}
				for _, r := range recs {
					count[duolog.RecordHash(r.Raw)]++
				}
				for _, g := range got[name] {
					count[duolog.RecordHash(g)]--
				}
				for _, n := range count {
					if n != 0 {
						t.Fatalf("%s: Duo's client got %d records, the fake holds %d, and they differ", name, len(got[name]), len(recs))
					}
				}
			}
			for _, r := range srv.Requests() {
				if r.Status != 200 {
					t.Errorf("request %s %v answered %d", r.Path, r.Query, r.Status)
				}
			}
		})
	}
}
