package normalize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// leafPaths lists the dotted paths of a decoded document's leaves.
func leafPaths(prefix string, v any, out *[]string) {
	m, ok := v.(map[string]any)
	if !ok {
		*out = append(*out, prefix)
		return
	}
	for k, e := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		leafPaths(p, e, out)
	}
}

// checkDocument asserts the invariants every output must hold, whatever
// the input: valid JSON, message = input, only known fields, and
// error.message exactly when the input is not a JSON object.
func checkDocument(t *testing.T, input, doc []byte, recErr error) {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(doc, &d); err != nil || !utf8.Valid(doc) {
		t.Fatalf("output is not valid JSON (%v): %q", err, doc)
	}
	// Byte for byte; JSON cannot carry invalid UTF-8, so each invalid
	// byte becomes U+FFFD, as []rune conversion does.
	wantMsg := string([]rune(string(input)))
	if d["message"] != wantMsg {
		t.Fatalf("message = %q, want %q", d["message"], wantMsg)
	}
	allowed := map[string]bool{"message": true}
	for _, f := range FieldNames() {
		allowed[f] = true
	}
	var paths []string
	leafPaths("", d, &paths)
	for _, p := range paths {
		if !allowed[p] {
			t.Fatalf("unexpected field %q in %s", p, doc)
		}
	}
	checkTypes(t, "", d, doc)
	var obj map[string]json.RawMessage
	isObject := utf8.Valid(input) && json.Unmarshal(input, &obj) == nil && obj != nil
	_, hasErr := d["error"]
	if isObject == hasErr || isObject == (recErr != nil) {
		t.Fatalf("input is object: %v, but error field: %v, record error: %v", isObject, hasErr, recErr)
	}
}

// checkTypes asserts each field has the type the mapping gives it: a
// string, a list of strings, or (priority_event) a boolean; never an
// object where a value belongs, a number or null.
func checkTypes(t *testing.T, prefix string, v any, doc []byte) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			if k == "" {
				t.Fatalf("field with an empty name under %q in %s", prefix, doc)
			}
			checkTypes(t, p, e, doc)
		}
	case string:
	case bool:
		if prefix != "duo.security.trust_monitor.priority_event" {
			t.Fatalf("%s is a boolean in %s", prefix, doc)
		}
	case []any:
		for _, e := range v {
			if _, ok := e.(string); !ok {
				t.Fatalf("%s holds %T, not only strings, in %s", prefix, e, doc)
			}
		}
	default:
		t.Fatalf("%s is %T in %s", prefix, v, doc)
	}
}

func FuzzNormalize(f *testing.F) {
	inputs, _ := filepath.Glob("../testdata/normalize/*/*/input.json")
	for _, in := range inputs {
		b, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, `[]`, `"x"`, `1`, `null`, `{"a":1,}`, `{"eventtype":"auth_log"`, "\"\xff\"", "{\"a\":\"\x01\"}",
		`{"eventtype":"admin_log","description":"{\"ip_address\":\"\u00e9\"}"}`, `{"access_device":[]}`, `{"user":"x"}`,
		`{"eventtype":"activity_log","action":[],"actor":"x","target":{"type":1},"access_device":{"ip":{"address":1}},"outcome":{"result":null}}`,
		`{"eventtype":"trust_monitor_event","type":"auth","surfaced_auth":[],"explanations":[1,{"type":2},{}],"surfaced_timestamp":"x","priority_event":"yes"}`,
		`{"eventtype":"trust_monitor_event","type":"bypass_status","enabled_by":"x","enabled_for":{"name":{}},"surfaced_timestamp":-1e30}`,
		// Issue 19, item 16: an object where a string belongs gave event.id
		// an object, and a field with an empty name.
		`{"eventtype":"trust_monitor_event","sekey":{"":""}}`,
		`{"eventtype":"auth_log","txid":{"a":1},"user":{"name":{"x":1},"key":[1],"groups":[{"g":1},"x"]},"access_device":{"ip":{},"location":{"city":[]}}}`,
		`{"eventtype":"admin_log","action":{"a":"b"},"username":1,"object":true,"description":"{\"ip_address\":{},\"email\":[\"x\"]}"}`,
		`{"eventtype":"telephony_log","context":{},"type":[],"phone":7}`,
		// The elastic mapping writes ports as numbers: never with leading zeros.
		`{"eventtype":"trust_monitor_event","triage_event_uri":"https://x.example:0080/a"}`,
	} {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"eventtype":"auth_log","access_device":{"ip":"[::ffff:89.160.20.113]:1"},"auth_device":{"ip":"216.160.83.56 port 9"}}`))
	f.Add([]byte(`{"eventtype":"activity_log","access_device":{"ip":{"address":"2a02:cf40::"}}}`))
	v1, v2, el := mustNew(f, V1), mustNew(f, V2), mustNew(f, Elastic)
	// The elastic mapping with GeoIP databases: every address the fuzzer
	// makes is looked up.
	geo := newGeoNormalizer(f)
	f.Fuzz(func(t *testing.T, input []byte) {
		for _, n := range []*Normalizer{v1, v2} {
			doc, err := n.Normalize(input)
			checkDocument(t, input, doc, err)
		}
		for _, n := range []*Normalizer{el, geo} {
			doc, err := n.Normalize(input)
			checkElastic(t, input, doc, err)
		}
	})
}

// TestConcurrentUse runs one Normalizer from many goroutines; with -race it
// proves the pooled state and the user-agent cache are safe to share.
func TestConcurrentUse(t *testing.T) {
	inputs, _ := filepath.Glob("../testdata/normalize/*/*/input.json")
	var records [][]byte
	for _, in := range inputs {
		records = append(records, must(os.ReadFile(in)))
	}
	n := mustNew(t, V2)
	want := make([][]byte, len(records))
	for i, r := range records {
		want[i], _ = n.Normalize(r)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 * len(records) {
				r := (i + g) % len(records)
				got, _ := n.Normalize(records[r])
				if string(got) != string(want[r]) {
					t.Errorf("concurrent result differs for record %d", r)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestUACacheEvicts checks the user-agent cache keeps at most its size and
// still answers correctly for evicted strings.
func TestUACacheEvicts(t *testing.T) {
	c := newUACache(2)
	a := "DuoCredProv/4.0.6.413 (Windows NT 6.3.9600; x64; Server)"
	first := c.lookup([]byte(a))
	for _, ua := range []string{"curl/8.0.1", "Wget/1.21", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"} {
		c.lookup([]byte(ua))
	}
	if c.order.Len() != 2 || len(c.items) != 2 {
		t.Fatalf("cache holds %d/%d entries, want 2", c.order.Len(), len(c.items))
	}
	if _, ok := c.items[a]; ok {
		t.Fatal("least recently used entry was not evicted")
	}
	if again := c.lookup([]byte(a)); string(again.osVersion) != string(first.osVersion) || string(again.osVersion) != `"8.1"` {
		t.Fatalf("re-parse after eviction gave os version %s, first %s", again.osVersion, first.osVersion)
	}
}

// checkElastic holds an elastic document to its promises: valid JSON,
// the record in event.original, an error exactly when the record is not
// an object, no empty field name, and the ECS fields of type ip, long and
// date well formed.
func checkElastic(t *testing.T, input, doc []byte, recErr error) {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(doc, &d); err != nil || !utf8.Valid(doc) {
		t.Fatalf("output is not valid JSON (%v): %q", err, doc)
	}
	ev, _ := d["event"].(map[string]any)
	if ev["original"] != string([]rune(string(input))) {
		t.Fatalf("event.original = %q, want the input %q", ev["original"], input)
	}
	var obj map[string]json.RawMessage
	isObject := utf8.Valid(input) && json.Unmarshal(input, &obj) == nil && obj != nil
	_, hasErr := d["error"]
	if isObject == hasErr || isObject == (recErr != nil) {
		t.Fatalf("input is object: %v, but error field: %v, record error: %v", isObject, hasErr, recErr)
	}
	// Elasticsearch refuses a document that names a field twice: none
	// does, unless the record itself does (inside a value kept whole).
	if err := noDuplicateNames(input); err == nil && isObject {
		if err := noDuplicateNames(doc); err != nil {
			t.Fatalf("%v: %s", err, doc)
		}
	}
	// Elasticsearch refuses a document that names a field twice: none
	// does, unless the record itself does (inside a value kept whole).
	if err := noDuplicateNames(input); err == nil && isObject {
		if err := noDuplicateNames(doc); err != nil {
			t.Fatalf("%v: %s", err, doc)
		}
	}
	var paths []string
	leafPaths("", d, &paths)
	for _, p := range paths {
		if strings.HasSuffix(p, ".") || strings.Contains(p, "..") || strings.HasPrefix(p, ".") {
			t.Fatalf("empty field name in %q: %s", p, doc)
		}
	}
	if src, ok := d["source"].(map[string]any); ok {
		// A location is only ever of an address the document has.
		if _, ok := src["geo"]; ok && src["ip"] == nil {
			t.Fatalf("source.geo without source.ip: %s", doc)
		}
		if _, ok := src["as"]; ok && src["ip"] == nil {
			t.Fatalf("source.as without source.ip: %s", doc)
		}
		if ip, ok := src["ip"]; ok {
			if s, ok := ip.(string); !ok || net.ParseIP(s) == nil {
				t.Fatalf("source.ip %v is not an IP: %s", ip, doc)
			}
		}
		if port, ok := src["port"]; ok {
			if f, ok := port.(float64); !ok || f < 0 || f > 65535 || f != float64(int(f)) {
				t.Fatalf("source.port %v is not a port: %s", port, doc)
			}
		}
	}
	if ts, ok := d["@timestamp"]; ok {
		if s, ok := ts.(string); !ok {
			t.Fatalf("@timestamp %v is not a string", ts)
		} else if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			t.Fatalf("@timestamp %q: %v", s, err)
		}
	}
	if id, ok := ev["id"]; ok {
		if _, ok := id.(string); !ok {
			t.Fatalf("event.id %v is not a string", id)
		}
	}
	// The ECS fields that hold one value hold no object or list.
	for _, path := range []string{"user.name", "user.email", "user.id", "user.target.name", "user.changes.name", "user.changes.email",
		"event.reason", "event.action", "source.address", "source.user.name", "source.user.email", "source.user.id",
		"user_agent.name", "user_agent.version", "user_agent.os.name", "user_agent.os.version", "observer.hostname", "message"} {
		var v any = d
		for _, k := range strings.Split(path, ".") {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		switch v.(type) {
		case map[string]any, []any:
			t.Fatalf("%s holds %v: %s", path, v, doc)
		}
	}
}

// noDuplicateNames reports an object of the JSON text data that has a
// member name twice.
func noDuplicateNames(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		object bool
		names  map[string]bool
		key    bool // the next string token is a name
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{', '[':
				if top != nil && top.object {
					top.key = true
				}
				stack = append(stack, &frame{object: tok == '{', names: map[string]bool{}, key: tok == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.object && top.key {
				if top.names[tok] {
					return fmt.Errorf("the name %q twice in one object", tok)
				}
				top.names[tok] = true
				top.key = false
				continue
			}
		}
		if top != nil && top.object {
			top.key = true
		}
	}
}
