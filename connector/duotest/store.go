package duotest

import (
	"slices"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
)

// Record is one log record as the fake serves it.
type Record struct {
	// Type is the log the record belongs to.
	Type duo.LogType
	// Time is the record's time (µs precision for auth and telephony v2,
	// whole seconds for v1 logs).
	Time time.Time
	// ID is the record's unique id where the log has one (auth txid,
	// telephony telephony_id), else empty.
	ID string
	// Raw is the record's JSON, exactly as served.
	Raw []byte
}

// store holds one log's records sorted by (time, id).
type store struct {
	recs []Record
}

// less orders records as Duo's v2 keyset paging does: by millisecond, then
// by id.
func less(a, b Record) bool {
	if am, bm := a.Time.UnixMilli(), b.Time.UnixMilli(); am != bm {
		return am < bm
	}
	if a.ID != b.ID {
		return a.ID < b.ID
	}
	return a.Time.Before(b.Time)
}

func (st *store) add(recs []Record) {
	sorted := len(st.recs) == 0 || !less(recs[0], st.recs[len(st.recs)-1])
	st.recs = append(st.recs, recs...)
	if !sorted || !slices.IsSortedFunc(recs, cmpRecord) {
		slices.SortStableFunc(st.recs, cmpRecord)
	}
}

func cmpRecord(a, b Record) int {
	if less(a, b) {
		return -1
	}
	if less(b, a) {
		return 1
	}
	return 0
}

// Add makes records available (once old enough) on their log's endpoint
// for the default account. Telephony records go to the v2 endpoint when
// they have an ID, else to v1.
func (s *Server) Add(recs ...Record) { s.AddForAccount("", recs...) }

// AddForAccount is Add for an MSP child account (requests with that
// account_id).
func (s *Server) AddForAccount(account string, recs ...Record) {
	byPath := map[string][]Record{}
	for _, r := range recs {
		p := pathOf(r)
		byPath[p] = append(byPath[p], r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, rs := range byPath {
		k := logKey{account, p}
		st := s.logs[k]
		if st == nil {
			st = &store{}
			s.logs[k] = st
		}
		st.add(rs)
	}
}

func pathOf(r Record) string {
	switch r.Type {
	case duo.Auth:
		return duo.PathAuthV2
	case duo.Admin:
		return duo.PathAdmin
	case duo.Offline:
		return duo.PathOffline
	case duo.Activity:
		return duo.PathActivity
	case duo.TrustMonitor:
		return duo.PathTrustMonitor
	}
	if r.ID != "" {
		return duo.PathTelephonyV2
	}
	return duo.PathTelephonyV1
}

// Count returns how many records the server holds for a log endpoint path.
func (s *Server) Count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.logs[logKey{"", path}]; st != nil {
		return len(st.recs)
	}
	return 0
}

func sortStrings(s []string) { slices.Sort(s) }
