package duotest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
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

func badRequest(detail string) ([]byte, int) {
	return []byte(failBody(40002, "Invalid request parameters", detail)), http.StatusBadRequest
}

func intParam(q url.Values, name string) (int64, bool, error) {
	v := q.Get(name)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, true, err
}

// serveV2 answers the v2 auth and telephony endpoints: mintime and maxtime
// in ms, both required and inclusive, limit ≤ 1000, keyset next_offset.
func (s *Server) serveV2(r *http.Request, empty bool) ([]byte, int) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	minMs, okMin, err1 := intParam(q, "mintime")
	maxMs, okMax, err2 := intParam(q, "maxtime")
	switch {
	case !okMin || err1 != nil:
		return badRequest("'mintime' is required and must be an integer")
	case !okMax || err2 != nil:
		return badRequest("'maxtime' is required and must be an integer")
	case minMs < 1e12:
		return badRequest("'mintime' must be a timestamp in milliseconds")
	case maxMs < 1e12:
		return badRequest("'maxtime' must be a timestamp in milliseconds")
	case maxMs <= minMs:
		return badRequest("'maxtime' must be strictly greater than 'mintime'")
	case time.UnixMilli(minMs).Before(now.Add(-Horizon)):
		return badRequest("mintime must be within the past 180 days")
	}
	limit := int64(100)
	if l, ok, err := intParam(q, "limit"); ok {
		if err != nil || l < 1 || l > 1000 {
			return badRequest("'limit' must be between 1 and 1000")
		}
		limit = l
	}
	desc := true // Duo's default order is not documented; clients must ask
	switch q.Get("sort") {
	case "ts:asc":
		desc = false
	case "", "ts:desc":
	default:
		return badRequest("'sort' must be ts:asc or ts:desc")
	}

	st := s.logs[logKey{q.Get("account_id"), r.URL.Path}]
	var recs []Record
	if st != nil {
		recs = st.recs
	}
	// The window: inclusive bounds, and nothing younger than the delay.
	visibleMax := min(maxMs, now.Add(-s.delay).UnixMilli())
	lo := sort.Search(len(recs), func(i int) bool { return recs[i].Time.UnixMilli() >= minMs })
	hi := sort.Search(len(recs), func(i int) bool { return recs[i].Time.UnixMilli() > visibleMax })
	if hi < lo {
		hi = lo
	}
	window := recs[lo:hi]
	total := len(window)

	if offs := q["next_offset"]; len(offs) > 0 {
		var offMs, offID string
		if len(offs) == 1 {
			offMs, offID, _ = strings.Cut(offs[0], ",")
		} else {
			offMs, offID = offs[0], offs[1]
		}
		ms, err := strconv.ParseInt(offMs, 10, 64)
		if err != nil || offID == "" {
			return badRequest("'next_offset' is invalid")
		}
		after := func(rec Record) bool { // rec comes after the offset in this order
			rm := rec.Time.UnixMilli()
			if rm != ms {
				return (rm > ms) != desc
			}
			return (rec.ID > offID) != desc
		}
		if desc {
			i := sort.Search(len(window), func(i int) bool { return !after(window[i]) })
			window = window[:i]
		} else {
			i := sort.Search(len(window), func(i int) bool { return after(window[i]) })
			window = window[i:]
		}
	}
	page := window
	more := false
	var last Record
	if empty && len(window) > 0 && !desc {
		// An offset just before the first record still to come.
		first := window[0]
		page, more = nil, true
		last = Record{Time: time.UnixMilli(first.Time.UnixMilli() - 1), ID: "~"}
	}
	if int64(len(page)) > limit {
		more = true
		if desc {
			page = page[len(page)-int(limit):]
		} else {
			page = page[:limit]
		}
	}
	var b bytes.Buffer
	b.Grow(64 + len(page)*1600)
	telephony := r.URL.Path == duo.PathTelephonyV2
	if telephony {
		b.WriteString(`{"stat":"OK","response":{"items":[`)
	} else {
		b.WriteString(`{"stat":"OK","response":{"authlogs":[`)
	}
	for i := range page {
		rec := page[i]
		if desc {
			rec = page[len(page)-1-i]
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(rec.Raw)
		last = rec
	}
	b.WriteString(`],"metadata":{"next_offset":`)
	switch {
	case !more:
		b.WriteString("null")
	case telephony:
		fmt.Fprintf(&b, `"%d,%s"`, last.Time.UnixMilli(), last.ID)
	default:
		fmt.Fprintf(&b, `["%d","%s"]`, last.Time.UnixMilli(), last.ID)
	}
	if telephony {
		fmt.Fprintf(&b, `,"total_objects":{"value":%d,"relation":"eq"}}}}`, total)
	} else {
		fmt.Fprintf(&b, `,"total_objects":%d}}}`, total)
	}
	return b.Bytes(), http.StatusOK
}

// serveV1 answers the v1 admin, offline and telephony endpoints: mintime in
// seconds, inclusive; the earliest records, completed to the end of the
// last second so a second is never split; a bare array, order not
// guaranteed.
func (s *Server) serveV1(r *http.Request) ([]byte, int) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	minS, _, err := intParam(q, "mintime")
	switch {
	case err != nil:
		return badRequest("'mintime' must be an integer")
	case minS > 1e11:
		return badRequest("'mintime' must be a timestamp in seconds")
	case time.Unix(minS, 0).Before(now.Add(-Horizon)):
		return badRequest("mintime must be within the past 180 days")
	}
	st := s.logs[logKey{q.Get("account_id"), r.URL.Path}]
	var recs []Record
	if st != nil {
		recs = st.recs
	}
	cutoff := now.Add(-s.delay)
	if s.v1Exclusive {
		minS++
	}
	lo := sort.Search(len(recs), func(i int) bool { return recs[i].Time.Unix() >= minS })
	hi := sort.Search(len(recs), func(i int) bool { return recs[i].Time.After(cutoff) })
	if hi < lo {
		hi = lo
	}
	page := recs[lo:hi]
	if len(page) > s.pageLimitV1 {
		lastSec := page[s.pageLimitV1-1].Time.Unix()
		end := sort.Search(len(page), func(i int) bool { return page[i].Time.Unix() > lastSec })
		page = page[:end]
	}
	order := make([]int, len(page))
	for i := range order {
		order[i] = i
	}
	if s.shuffle {
		s.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	var b bytes.Buffer
	b.WriteString(`{"stat":"OK","response":[`)
	for i, j := range order {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(page[j].Raw)
	}
	b.WriteString(`]}`)
	return b.Bytes(), http.StatusOK
}

func sortStrings(s []string) { slices.Sort(s) }
