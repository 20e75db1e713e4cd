package duo

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzEnvelope: the fast path that finds a success envelope's response by
// its two ends agrees with the full scan on every body whose response is
// one valid JSON value (what the page decoders accept); other shapes are
// left to the full scan.
func FuzzEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"response": {"authlogs": [], "metadata": {}}, "stat": "OK"}`,
		`{"response":[{"a":1}],"stat":"OK"}`,
		` { "response" : [] , "stat" : "OK" } `,
		`{"stat": "OK", "response": []}`,
		`{"stat":"OK","response":{"authlogs":[{"txid":"1"}],"metadata":{"next_offset":null}}}`,
		`{"stat": "OK", "response": 1, "stat": "FAIL"}`,
		`{"response": 1, "stat": "FAIL", "x": {"stat": "OK"}, "stat": "OK"}`,
		`{"response": "x\"}, \"stat\": \"OK\"}", "stat": "OK"}`,
		`{"response": , "stat": "OK"}`,
		`{"code": 40301, "message": "Access forbidden", "stat": "FAIL"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		x, ok := okEnvelope(body)
		if !ok || !json.Valid(x) {
			return
		}
		stat, resp, err := scanEnvelope(body)
		if err != nil || stat != "OK" || !bytes.Equal(bytes.TrimSpace(resp), x) {
			t.Fatalf("fast path %q, full scan %q %q %v", x, stat, resp, err)
		}
	})
}

func TestEnvelopeFastPath(t *testing.T) {
	for body, want := range map[string]string{
		`{"response": {"authlogs": []}, "stat": "OK"}`:     `{"authlogs": []}`,
		"{\n \"response\" :\t[1, 2]\n ,\"stat\":\"OK\"}\n": `[1, 2]`,
		`{"stat":"OK","response":{"a":[]}}`:                `{"a":[]}`,
		`{"stat": "OK", "response": [] , "x": 1}`:          `[] , "x": 1`, // the page decoders refuse it
		`{"response": [], "stat": "FAIL"}`:                 "",
		`{"response": [], "stat": "OK"`:                    "", // truncated
	} {
		x, ok := okEnvelope([]byte(body))
		if ok != (want != "") || string(x) != want {
			t.Errorf("okEnvelope(%q) = %q, %v; want %q", body, x, ok, want)
		}
	}
}
