package duolog_test

import (
	"context"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
	"github.com/duo-connector/duo-connector/connector/duotest"
)

// BenchmarkDrainAuth drains 1M auth records from the fake over TLS with no
// request budget, and reports records/s and requests per 1000 records
// (full pages and no re-reads make it 1.0).
func BenchmarkDrainAuth(b *testing.B) {
	const n = 1_000_000
	e := newEnv(b, nil, duotest.WithoutRequestLog())
	now := e.clock.Now()
	e.srv.Add(e.gen.Fill(duo.Auth, now.Add(-24*time.Hour), now.Add(-time.Hour), n)...)
	opts := duolog.Options{InitialLookback: 25 * time.Hour, Now: e.clock.Now}
	var records, requests int
	b.ResetTimer()
	for b.Loop() {
		r := duolog.NewReader(e.client, duo.Auth, nil, opts)
		for {
			p, err := r.Next(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			r.Advance(p.Cursor)
			requests++
			records += len(p.Records)
			if !p.More {
				break
			}
		}
	}
	if records != n*b.N {
		b.Fatalf("drained %d records, want %d", records, n*b.N)
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(requests)*1000/float64(records), "requests/1000rec")
}
