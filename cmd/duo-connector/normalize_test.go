package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duo-connector/duo-connector/normalize/geoip/geoiptest"
)

func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func messages(t *testing.T, out string) []string {
	t.Helper()
	var msgs []string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var d struct {
			Message string `json:"message"`
			Error   *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("output line is not JSON: %v: %s", err, sc.Text())
		}
		msgs = append(msgs, d.Message)
	}
	return msgs
}

func TestNormalizeCLI(t *testing.T) {
	good := `{"eventtype":"admin_log","action":"user_update","isotimestamp":"2020-01-24T15:09:42+00:00","username":"admin"}`
	tests := []struct {
		name     string
		stdin    string
		args     []string
		wantCode int
		wantMsgs []string
		stderr   string
	}{
		{"one record", good + "\n", nil, 0, []string{good}, "normalized 1 records (mapping v1), 0 malformed"},
		{"no trailing newline", good, nil, 0, []string{good}, ""},
		{"blank lines skipped", "\n" + good + "\n   \n\r\n" + good + "\n\n", nil, 0, []string{good, good}, "normalized 2 records"},
		{"CRLF line ends", good + "\r\n" + good + "\r\n", nil, 0, []string{good, good}, ""},
		{"malformed lines keep their place", good + "\n{trunc\n[1]\n" + good + "\n", []string{"--mapping", "v2"}, 1,
			[]string{good, "{trunc", "[1]", good}, "stdin:2: malformed record"},
		{"empty input", "", nil, 0, nil, "normalized 0 records"},
		{"flag after the file name", good + "\n", []string{"-", "--mapping", "v2"}, 0, []string{good}, "(mapping v2)"},
		{"unknown mapping", good, []string{"--mapping", "v9"}, 2, nil, `unknown mapping "v9"`},
		{"unreadable file", good, []string{"/nonexistent/records.ndjson"}, 2, nil, "/nonexistent/records.ndjson"},
		{"bad flag", good, []string{"--nope"}, 2, nil, "flag provided but not defined"},
		{"flag given twice", good, []string{"--mapping", "v1", "-", "--mapping=v2"}, 2, nil, "--mapping is given twice"},
		// Issue 21, item 11.
		{"unidentified records", `{"a":1}` + "\n" + good + "\n" + `{"eventtype":"nosuch_log"}` + "\n", nil, 0,
			[]string{`{"a":1}`, good, `{"eventtype":"nosuch_log"}`}, "stdin:3: no eventtype the mapping knows"},
		{"pretty-printed JSON", "{\n  \"eventtype\": \"auth_log\"\n}\n", nil, 1, []string{"{", `  "eventtype": "auth_log"`, "}"}, "looks like indented JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, tc.stdin, append([]string{"normalize"}, tc.args...)...)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tc.wantCode, errOut)
			}
			if got := messages(t, out); fmt.Sprint(got) != fmt.Sprint(tc.wantMsgs) {
				t.Errorf("messages %q, want %q", got, tc.wantMsgs)
			}
			if !strings.Contains(errOut, tc.stderr) {
				t.Errorf("stderr %q does not contain %q", errOut, tc.stderr)
			}
		})
	}
}

// TestNormalizeCLIFilesInOrder streams many lines over several files and
// stdin and checks that one document comes out per line, in input order.
func TestNormalizeCLIFilesInOrder(t *testing.T) {
	dir := t.TempDir()
	var args []string
	var want []string
	for f := range 3 {
		var b strings.Builder
		for i := range 20000 {
			line := fmt.Sprintf(`{"eventtype":"telephony_log","context":"authentication","phone":"+1555%07d","type":"sms","n":"%d-%d"}`, i, f, i)
			if i%997 == 0 {
				line = fmt.Sprintf(`{"broken %d-%d`, f, i)
			}
			b.WriteString(line + "\n")
			want = append(want, line)
		}
		name := filepath.Join(dir, fmt.Sprintf("part%d.ndjson", f))
		if err := os.WriteFile(name, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, name)
	}
	stdinLine := `{"eventtype":"auth_log","from":"stdin"}`
	args = append(args, "-")
	want = append(want, stdinLine)

	var out, errb bytes.Buffer
	code := run(append([]string{"normalize"}, args...), strings.NewReader(stdinLine+"\n"), &out, &errb)
	if code != exitFailure {
		t.Fatalf("exit code %d, want %d (some lines are malformed)", code, exitFailure)
	}
	got := messages(t, out.String())
	if len(got) != len(want) {
		t.Fatalf("%d documents for %d lines", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("document %d carries %q, want %q", i, got[i], want[i])
		}
	}
	if !strings.Contains(errb.String(), "63 malformed") || !strings.Contains(errb.String(), "more malformed lines") {
		t.Errorf("summary: %s", errb.String())
	}
}

func TestVersionAndHelp(t *testing.T) {
	if out, _, code := runCLI(t, "", "version"); code != 0 || !strings.HasPrefix(out, "duo-connector ") {
		t.Errorf("version: %q, %d", out, code)
	}
	if out, _, code := runCLI(t, "", "help"); code != 0 || !strings.Contains(out, "normalize") {
		t.Errorf("help: %q, %d", out, code)
	}
	if _, errOut, code := runCLI(t, "", "frobnicate"); code != exitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %q, %d", errOut, code)
	}
	if _, _, code := runCLI(t, ""); code != exitUsage {
		t.Errorf("no command: exit %d", code)
	}
}

// TestNormalizeCLILongLines: a line longer than --max-line-bytes is
// reported malformed (its document keeps a prefix and says why) without
// being read whole; the lines around it are normalized as usual, and a
// line of exactly the limit, with CRLF, is read.
func TestNormalizeCLILongLines(t *testing.T) {
	const limit = 1 << 20
	exact := `{"eventtype":"auth_log","pad":"` + strings.Repeat("y", limit-33) + `"}`
	if len(exact) != limit {
		t.Fatalf("test setup: %d", len(exact))
	}
	in := `{"eventtype":"auth_log","n":1}` + "\n" +
		`{"eventtype":"auth_log","pad":"` + strings.Repeat("x", 5*limit) + `"}` + "\n" +
		exact + "\r\n" +
		`{"eventtype":"auth_log","n":3}` + "\n"
	var out, errb bytes.Buffer
	code := run([]string{"normalize", "--max-line-bytes", fmt.Sprint(limit)}, strings.NewReader(in), &out, &errb)
	if code != exitFailure {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	docs := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(docs) != 4 {
		t.Fatalf("%d documents for 4 lines", len(docs))
	}
	var long struct {
		Message string `json:"message"`
		Error   struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(docs[1]), &long); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(long.Error.Message, "longer than the limit of") || len(long.Message) > 2048 {
		t.Fatalf("long line's document: error %q, message of %d bytes", long.Error.Message, len(long.Message))
	}
	var exactDoc struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(docs[2]), &exactDoc); err != nil || exactDoc.Message != exact {
		t.Fatalf("the line of exactly the limit was not read whole (%v, %d bytes)", err, len(exactDoc.Message))
	}
	if !strings.Contains(errb.String(), "1 malformed") || !strings.Contains(errb.String(), ":2:") {
		t.Fatalf("summary: %s", errb.String())
	}
}

// TestNormalizeCLIGeoIP: --geoip-city-db and --geoip-asn-db enrich the
// elastic mapping's documents; a bad database names its flag.
func TestNormalizeCLIGeoIP(t *testing.T) {
	dir := t.TempDir()
	city, asn, err := geoiptest.WriteKnown(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec := `{"eventtype":"auth_log","access_device":{"ip":"89.160.20.115"},"result":"success","txid":"t1","timestamp":1627024774}` + "\n"
	out, errOut, code := runCLI(t, rec, "normalize", "--mapping", "elastic", "--geoip-city-db", city, "--geoip-asn-db", asn)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var d struct {
		Source struct {
			Geo struct {
				CityName string `json:"city_name"`
			} `json:"geo"`
			AS struct {
				Number int `json:"number"`
			} `json:"as"`
		} `json:"source"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if d.Source.Geo.CityName != "Linköping" || d.Source.AS.Number != 29518 {
		t.Errorf("source.geo.city_name %q, source.as.number %d; want Linköping, 29518:\n%s", d.Source.Geo.CityName, d.Source.AS.Number, out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mapping", "elastic", "--geoip-asn-db", city}, "--geoip-asn-db: " + city + ": it is a location database"},
		{[]string{"--mapping", "elastic", "--geoip-city-db", dir + "/none.mmdb"}, "--geoip-city-db: " + dir + "/none.mmdb"},
		{[]string{"--geoip-city-db", city}, "only the elastic mapping uses GeoIP databases"},
	} {
		_, errOut, code := runCLI(t, rec, append([]string{"normalize"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, exitUsage, tc.want)
		}
	}
}
