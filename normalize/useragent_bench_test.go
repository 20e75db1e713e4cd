package normalize

import (
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duotest"
)

// BenchmarkOfflineUserAgents normalizes offline-enrollment records as the
// fake Duo makes them (a few Duo for Windows Logon releases, as in a real
// account) and reports how often the user-agent cache answers: parsing
// one runs hundreds of regexps.
func BenchmarkOfflineUserAgents(b *testing.B) {
	gen := duotest.NewGenerator(5)
	var recs [][]byte
	now := time.Now()
	for i := range 2000 {
		r := gen.Record(duo.Offline, now.Add(-time.Duration(i)*time.Second))
		recs = append(recs, append(append([]byte(`{"eventtype":"offline_log",`), r.Raw[1:len(r.Raw)-1]...), '}'))
	}
	n, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	var dst []byte
	i := 0
	for b.Loop() {
		dst, _ = n.Append(dst[:0], recs[i%len(recs)])
		i++
	}
	hits, misses := n.ua.hits.Load(), n.ua.misses.Load()
	b.ReportMetric(100*float64(hits)/float64(max(hits+misses, 1)), "ua-hit-%")
}
