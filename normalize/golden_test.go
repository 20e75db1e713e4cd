package normalize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/duo-connector/duo-connector/normalize/geoip"
	"github.com/duo-connector/duo-connector/normalize/geoip/geoiptest"
)

// compareDocs compares two ECS documents the way the reference harness
// does: object keys in any order, lists of plain values as sorted,
// everything else exact.
func compareDocs(t *testing.T, got []byte, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("output is not valid JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("expected document is not valid JSON: %v", err)
	}
	// Our own cases leave message out of the expected document: every
	// test checks it against the input separately (checkMessage).
	if gm, ok := g.(map[string]any); ok {
		if wm, ok := w.(map[string]any); ok {
			if _, has := wm["message"]; !has {
				delete(gm, "message")
			}
			// Likewise event.original (the elastic mapping's raw record).
			if ge, ok := gm["event"].(map[string]any); ok {
				if we, ok := wm["event"].(map[string]any); !ok || we["original"] == nil {
					delete(ge, "original")
				}
			}
		}
	}
	if !reflect.DeepEqual(canonical(g), canonical(w)) {
		t.Errorf("document mismatch\n got: %s\nwant: %s", pretty(g), pretty(w))
	}
}

// canonical sorts every list whose elements are all plain values.
func canonical(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = canonical(e)
		}
	case []any:
		plain := true
		for i, e := range v {
			v[i] = canonical(e)
			switch e.(type) {
			case map[string]any, []any:
				plain = false
			}
		}
		if plain {
			sort.Slice(v, func(i, j int) bool { return fmt.Sprint(v[i]) < fmt.Sprint(v[j]) })
		}
	}
	return v
}

func pretty(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// checkMessage asserts the document's message is the input, byte for byte.
func checkMessage(t *testing.T, doc, input []byte) {
	t.Helper()
	var d struct {
		Message *string `json:"message"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("output is not valid JSON: %v", err)
	}
	if d.Message == nil || *d.Message != string(input) {
		t.Errorf("message is not the input byte for byte\n got: %q\nwant: %q", deref(d.Message), input)
	}
}

// checkOriginal asserts the elastic document's event.original is the
// input, byte for byte.
func checkOriginal(t *testing.T, doc, input []byte) {
	t.Helper()
	var d struct {
		Event struct {
			Original *string `json:"original"`
		} `json:"event"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("output is not valid JSON: %v", err)
	}
	if d.Event.Original == nil || *d.Event.Original != string(input) {
		t.Errorf("event.original is not the input byte for byte\n got: %q\nwant: %q", deref(d.Event.Original), input)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<missing>"
	}
	return *s
}

func mustNew(t testing.TB, m Mapping) *Normalizer {
	t.Helper()
	n, err := New(Options{Mapping: m})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestGolden runs every case under testdata/normalize: the reference
// document's samples (v1) and our own cases for each rule (v1 and v2). Each
// case directory holds input.json and one expected.<mapping>.json per
// mapping it covers.
func TestGolden(t *testing.T) {
	// expected.elastic-geoip.json: the elastic mapping with GeoIP
	// databases holding geoiptest's networks.
	geoNormalizer = newGeoNormalizer(t)
	dirs, err := filepath.Glob("../testdata/normalize/*/*/input.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases found: %v", err)
	}
	seen := map[Mapping]int{}
	for _, in := range dirs {
		dir := filepath.Dir(in)
		input, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []Mapping{V1, V2, Elastic, elasticGeoIP} {
			want, err := os.ReadFile(filepath.Join(dir, "expected."+string(m)+".json"))
			if os.IsNotExist(err) {
				continue
			} else if err != nil {
				t.Fatal(err)
			}
			seen[m]++
			name := filepath.Base(filepath.Dir(dir)) + "/" + filepath.Base(dir) + "/" + string(m)
			t.Run(name, func(t *testing.T) {
				n := geoNormalizer
				if m != elasticGeoIP {
					n = mustNew(t, m)
				}
				got, recErr := n.Normalize(input)
				if n.elastic {
					checkOriginal(t, got, input)
				} else {
					checkMessage(t, got, input)
				}
				compareDocs(t, got, want)
				wantErr := bytes.Contains(want, []byte(`"error"`))
				if (recErr != nil) != wantErr {
					t.Errorf("record error = %v, want error: %v", recErr, wantErr)
				}
			})
		}
	}
	if n := len(must(filepath.Glob("../testdata/normalize/reference/*/expected.v1.json"))); n != 7 {
		t.Errorf("reference samples: %d, want the reference document's 7", n)
	}
	if seen[elasticGeoIP] < 3 {
		t.Errorf("elastic GeoIP golden cases: %d, want at least 3", seen[elasticGeoIP])
	}
	if seen[Elastic] < 12 {
		t.Errorf("elastic golden cases: %d, want at least 12 (every dataset)", seen[Elastic])
	}
	t.Logf("golden cases: v1 %d, v2 %d, elastic %d", seen[V1], seen[V2], seen[Elastic])
}

// elasticGeoIP names the golden files of the elastic mapping with GeoIP.
const elasticGeoIP Mapping = "elastic-geoip"

var geoNormalizer *Normalizer

// newGeoNormalizer is an elastic Normalizer whose GeoIP databases hold
// geoiptest.Known and geoiptest.KnownASN.
func newGeoNormalizer(t testing.TB) *Normalizer {
	t.Helper()
	var cfg geoip.Config
	var err error
	if cfg.CityDB, cfg.ASNDB, err = geoiptest.WriteKnown(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	n, err := New(Options{Mapping: Elastic, GeoIP: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// referenceEnv names the folder of the upstream test cases for mapping v2,
// by default the shared folder beside the repository. They are read in
// place and never copied into this repository.
const referenceEnv = "MAPPING_REFERENCE_CASES"

func referenceDir() string {
	if d := os.Getenv(referenceEnv); d != "" {
		return d
	}
	return "../../shared/reference/sekoia-duo-tests"
}

// TestConformanceV2 checks mapping v2 against the 9 third-party reference
// cases: input.message is the raw record, expected the whole document.
func TestConformanceV2(t *testing.T) {
	sekoiaDir := referenceDir()
	files, _ := filepath.Glob(filepath.Join(sekoiaDir, "*.json"))
	if len(files) == 0 {
		t.Skipf("reference cases not found in %s (the shared folder is not beside the repository); skipping v2 conformance: set %s to their folder", sekoiaDir, referenceEnv)
	}
	if len(files) != 9 {
		t.Errorf("found %d reference cases in %s, want 9", len(files), sekoiaDir)
	}
	n := mustNew(t, V2)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var tc struct {
				Input struct {
					Message string `json:"message"`
				} `json:"input"`
				Expected json.RawMessage `json:"expected"`
			}
			if err := json.Unmarshal(must(os.ReadFile(f)), &tc); err != nil {
				t.Fatal(err)
			}
			input := []byte(tc.Input.Message)
			got, err := n.Normalize(input)
			if err != nil {
				t.Errorf("unexpected record error: %v", err)
			}
			checkMessage(t, got, input)
			compareDocs(t, got, tc.Expected)
		})
	}
}
