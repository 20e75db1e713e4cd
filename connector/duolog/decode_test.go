package duolog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

func TestDecodeNextOffset(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`null`, ""}, {``, ""},
		{`["1547486297000","5bea5c1e-a2f8-4eb9-9d1e-4d2d1d7c5c5d"]`, "1547486297000,5bea5c1e-a2f8-4eb9-9d1e-4d2d1d7c5c5d"},
		{`"1666714065304,5bf1a860-fe39-49e3-be29-217659663a74"`, "1666714065304,5bf1a860-fe39-49e3-be29-217659663a74"},
		// Trust Monitor's offset may be a position, as a number or a
		// string (issue 19, item 13: a number failed the page for good).
		{`200`, "200"}, {`"400"`, "400"},
	} {
		got, err := decodeNextOffset(json.RawMessage(tc.in))
		if err != nil || got != tc.want {
			t.Errorf("decodeNextOffset(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`{"a":1}`, `1.5`, `1e400`} {
		if _, err := decodeNextOffset(json.RawMessage(bad)); err == nil {
			t.Errorf("next_offset %s was accepted", bad)
		}
	}
}

// TestCursorTimeOfPositionalOffset: a window's cursor reads its time from
// a "ms,id" offset, but a positional one ("200") tells no time: the
// window's start is the cursor's time, not 1970 (issue 19, item 13).
func TestCursorTimeOfPositionalOffset(t *testing.T) {
	c := Cursor{MinTimeMs: 1763600000000, MaxTimeMs: 1763600600000}
	for off, want := range map[string]int64{
		"200":                 1763600000000,
		"1763600300000,abc":   1763600300000,
		"17,abc":              1763600000000, // not within the window
		"1763600300000":       1763600000000,
		"x1763600300000,abc":  1763600000000,
		"99999999999999,abcd": 1763600000000,
	} {
		c.NextOffset = off
		if got := c.Time().UnixMilli(); got != want {
			t.Errorf("offset %q: cursor time %d, want %d", off, got, want)
		}
	}
}

// FuzzDecodeV2Page: whatever Duo (or a broken proxy) sends, decoding never
// panics; on success the records are the elements of the array, each
// found by its brackets and quotes (what is inside is the normalizer's to
// check), and for a page that is JSON, exactly the values encoding/json
// finds there.
func FuzzDecodeV2Page(f *testing.F) {
	f.Add([]byte(`{"authlogs":[{"txid":"a"}],"metadata":{"next_offset":["1","a"],"total_objects":1}}`), false)
	f.Add([]byte(`{"items":[{"telephony_id":"a"}],"metadata":{"next_offset":"1,a","total_objects":{"value":1,"relation":"eq"}}}`), true)
	f.Add([]byte(`{"authlogs":[],"metadata":{"next_offset":null}}`), false)
	f.Add([]byte(`{"authlogs":[{"tx`), false)
	f.Fuzz(func(t *testing.T, body []byte, telephony bool) {
		key := "authlogs"
		if telephony {
			key = "items"
		}
		recs, _, err := decodeV2Page(body, key)
		if err != nil || !json.Valid(body) {
			return
		}
		var page map[string]json.RawMessage
		json.Unmarshal(body, &page)
		var want []json.RawMessage
		if json.Unmarshal(page[key], &want) != nil {
			return
		}
		if len(recs) != len(want) {
			t.Fatalf("%d records, encoding/json finds %d", len(recs), len(want))
		}
		for i, r := range recs {
			if !json.Valid(r) || !bytes.Equal(bytes.TrimSpace(r), bytes.TrimSpace(want[i])) {
				t.Fatalf("record %d is %q, encoding/json finds %q", i, r, want[i])
			}
		}
	})
}

// FuzzDecodeV1Page: likewise for v1 pages, and the record helpers never
// panic on any record.
func FuzzDecodeV1Page(f *testing.F) {
	f.Add([]byte(`[{"timestamp":1579796338,"action":"x"}]`))
	f.Add([]byte(`[{"timestamp":"1579796338"},{"timestamp":1.5e9},{}]`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := decodeV1Page(body)
		if err != nil {
			return
		}
		for _, r := range recs {
			recordSecond(r)
			if h := RecordHash(r); len(h) != 32 {
				t.Fatalf("hash %q", h)
			}
		}
	})
}

// TestRecordHashCanonical: key order and spacing do not change the hash;
// content does.
func TestRecordHashCanonical(t *testing.T) {
	a := RecordHash([]byte(`{"action":"user_update","timestamp":1579878582,"object":"jsmith"}`))
	b := RecordHash([]byte(`{ "timestamp": 1579878582, "object": "jsmith", "action": "user_update" }`))
	c := RecordHash([]byte(`{"action":"user_update","timestamp":1579878582,"object":"jsmith2"}`))
	if a != b || a == c {
		t.Fatalf("hashes: %s %s %s", a, b, c)
	}
}

func TestParseCursor(t *testing.T) {
	tests := []struct {
		raw string
		ok  bool
	}{
		{`{"mintime_ms":1763600000000}`, true},
		{`{"mintime_ms":1763600000000,"maxtime_ms":1763600060000,"next_offset":"1763600001000,abc"}`, true},
		{`{"mintime":1763600000,"seen":["ab"]}`, true},
		{`{}`, false},
		{`{"seen":["ab"]}`, false},
		{`{"mintime_ms":1763600000}`, false},
		{`{"mintime":1763600000000}`, false},
		{`{"mintime_ms":1763600000000,"mintime":1763600000}`, false},
		{`{"mintime_ms":1763600060000,"maxtime_ms":1763600000000}`, false},
		{`{"mintime_ms":1763600000000,"next_offset":"1,a"}`, false},
		{`{"mintime_ms":1763600000000,"extra":1}`, false},
		{`{"mintime_ms":1763600000000} {}`, false},
		{`[]`, false},
	}
	for _, tt := range tests {
		_, err := ParseCursor([]byte(tt.raw))
		if (err == nil) != tt.ok {
			t.Errorf("ParseCursor(%s): err = %v, want ok = %v", tt.raw, err, tt.ok)
		}
	}
}

// legacyHash is RecordHash's definition: encoding/json's canonical form.
func legacyHash(raw []byte) string {
	sum := sha256.Sum256(legacyCanonical(nil, raw))
	return hex.EncodeToString(sum[:16])
}

// TestRecordHashMatchesEncodingJSON: the one-pass canonical form gives the
// hash encoding/json's does, so event ids and saved cursors stay valid.
func TestRecordHashMatchesEncodingJSON(t *testing.T) {
	for _, raw := range []string{
		`{"b":1,"a":"x"}`,
		`{"action":"admin_login","description":"{\"ip_address\": \"10.1.2.3\", \"device\": \"+1 555\"}","object":null,"timestamp":1763600000,"username":"Éva <admin> & co"}`,
		`{"s":"tab\tnl\ncr\rbs\\q\"bell\u0007bsp\bff\f","u":"\u2028\u2029 \ud83d\ude00 \ud800 lone","n":[1.50,-0,1e3,{"z":{},"y":[]}]}`,
		`{"nested":{"k2":"v","k1":{"b":true,"a":false}},"list":[{"b":1,"a":2}],"html":"</script>"}`,
		`{"a":1,"a":2}`,
		`[3,"x",{"b":null,"a":1}]`,
		`"just a string"`,
		`{ "spaced" : [ 1 , 2 ] }`,
		"{\"invalid utf8\":\"\xff\"}",
		`{"k":1} trailing`,
	} {
		if got, want := RecordHash([]byte(raw)), legacyHash([]byte(raw)); got != want {
			c := &canonicalizer{}
			fast, ok := c.appendValue(nil, []byte(raw))
			t.Errorf("RecordHash(%s) = %s, want %s\nfast (%v): %s\nslow: %s", raw, got, want, ok, fast, legacyCanonical(nil, []byte(raw)))
		}
	}
}

func FuzzRecordHash(f *testing.F) {
	f.Add([]byte(`{"description":"{\"a\": \"<b>\"}","timestamp":1,"x":[1,{"b":2,"a":"\u00e9"}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if got, want := RecordHash(raw), legacyHash(raw); got != want {
			t.Fatalf("RecordHash(%q) = %s, encoding/json's gives %s", raw, got, want)
		}
	})
}

// BenchmarkDecodeV2Page splits a page of a thousand compact auth records
// (the reference document's) into records.
func BenchmarkDecodeV2Page(b *testing.B) {
	raw, err := os.ReadFile("../../testdata/normalize/reference/seed_auth/input.json")
	if err != nil {
		b.Fatal(err)
	}
	var rec bytes.Buffer
	if err := json.Compact(&rec, raw); err != nil {
		b.Fatal(err)
	}
	page := []byte(`{"authlogs":[`)
	for i := range PageSize {
		if i > 0 {
			page = append(page, ',')
		}
		page = append(page, rec.Bytes()...)
	}
	page = append(page, `],"metadata":{"next_offset":["1","a"],"total_objects":1000}}`...)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		recs, _, err := decodeV2Page(page, "authlogs")
		if err != nil || len(recs) != PageSize {
			b.Fatal(len(recs), err)
		}
	}
}
