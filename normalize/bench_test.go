package normalize

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"
)

// benchRecords are realistic records, one per eventtype: the reference
// document's samples as Duo sends them.
var benchRecords = []struct{ name, file string }{
	{"auth_log", "../testdata/normalize/reference/seed_auth/input.json"},
	{"admin_log", "../testdata/normalize/reference/seed_admin_user_update/input.json"},
	{"offline_log", "../testdata/normalize/reference/seed_offline/input.json"},
	{"telephony_log", "../testdata/normalize/reference/seed_telephony_auth/input.json"},
}

func BenchmarkNormalize(b *testing.B) {
	for _, m := range []Mapping{V1, V2, Elastic} {
		n := mustNew(b, m)
		for _, r := range benchRecords {
			raw, err := os.ReadFile(r.file)
			if err != nil {
				b.Fatal(err)
			}
			// As in the reference document (indented), and as Duo sends
			// it (compact).
			var compact bytes.Buffer
			if err := json.Compact(&compact, raw); err != nil {
				b.Fatal(err)
			}
			for _, f := range []struct {
				name string
				raw  []byte
			}{{"", raw}, {"/compact", compact.Bytes()}} {
				b.Run(string(m)+"/"+r.name+f.name, func(b *testing.B) {
					var dst []byte
					b.SetBytes(int64(len(f.raw)))
					b.ReportAllocs()
					for b.Loop() {
						dst, _ = n.Append(dst[:0], f.raw)
					}
				})
			}
		}
	}
}

// BenchmarkJSONValid is the baseline: merely validating the same auth
// record with the standard library. Normalizing must not be slower.
func BenchmarkJSONValid(b *testing.B) {
	raw, err := os.ReadFile(benchRecords[0].file)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if !json.Valid(raw) {
			b.Fatal("invalid")
		}
	}
}

// BenchmarkAuthRatio runs both on the auth record in the same loop and
// reports normalize's time over json.Valid's: the target is ≤ 1.0.
func BenchmarkAuthRatio(b *testing.B) {
	raw, err := os.ReadFile(benchRecords[0].file)
	if err != nil {
		b.Fatal(err)
	}
	n := mustNew(b, V1)
	var dst []byte
	var tNorm, tValid time.Duration
	for b.Loop() {
		t0 := time.Now()
		dst, _ = n.Append(dst[:0], raw)
		t1 := time.Now()
		if !json.Valid(raw) {
			b.Fatal("invalid")
		}
		tNorm += t1.Sub(t0)
		tValid += time.Since(t1)
	}
	b.ReportMetric(float64(tNorm.Nanoseconds())/float64(b.N), "normalize-ns/op")
	b.ReportMetric(float64(tValid.Nanoseconds())/float64(b.N), "json.Valid-ns/op")
	b.ReportMetric(float64(tNorm)/float64(tValid), "ratio")
}
