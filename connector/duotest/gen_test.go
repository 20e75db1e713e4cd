package duotest_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duotest"
)

// TestGeneratedRecordsMatchTheirMetadata: every generated record is JSON
// whose own time and id fields agree with the Record describing it, ids are
// unique, for Record, Burst and the templated Fill.
func TestGeneratedRecordsMatchTheirMetadata(t *testing.T) {
	g := duotest.NewGenerator(3)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	for _, typ := range duo.LogTypes {
		var recs []duotest.Record
		recs = append(recs, g.Spread(typ, now.Add(-time.Hour), now, 50)...)
		recs = append(recs, g.Burst(typ, now, 50)...)
		recs = append(recs, g.Fill(typ, now.Add(-time.Hour), now, 1000)...)
		ids := map[string]bool{}
		for _, r := range recs {
			var f struct {
				ISO         string `json:"isotimestamp"`
				TS          string `json:"ts"`
				Timestamp   int64  `json:"timestamp"`
				TxID        string `json:"txid"`
				TelephonyID string `json:"telephony_id"`
				ActivityID  string `json:"activity_id"`
				SEKey       string `json:"sekey"`
				Surfaced    int64  `json:"surfaced_timestamp"`
			}
			if err := json.Unmarshal(r.Raw, &f); err != nil {
				t.Fatalf("%s: %v: %s", typ, err, r.Raw)
			}
			iso := f.ISO
			if typ == duo.Telephony || typ == duo.Activity {
				iso = f.TS
			}
			if typ == duo.TrustMonitor {
				iso = time.UnixMilli(f.Surfaced).UTC().Format(time.RFC3339Nano)
			}
			at, err := time.Parse(time.RFC3339Nano, iso)
			if err != nil || !at.Equal(r.Time) {
				t.Fatalf("%s: record time %q, metadata %s", typ, iso, r.Time)
			}
			if typ != duo.Telephony && typ != duo.Activity && typ != duo.TrustMonitor && f.Timestamp != r.Time.Unix() {
				t.Fatalf("%s: timestamp %d, metadata %s", typ, f.Timestamp, r.Time)
			}
			id := map[duo.LogType]string{duo.Auth: f.TxID, duo.Telephony: f.TelephonyID, duo.Activity: f.ActivityID, duo.TrustMonitor: f.SEKey}[typ]
			if id != r.ID || (id != "" && ids[id]) {
				t.Fatalf("%s: id %q, metadata %q, duplicate %v", typ, id, r.ID, ids[id])
			}
			ids[id] = true
		}
	}
}
