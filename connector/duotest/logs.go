package duotest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
)

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

// v2Endpoint is how one windowed endpoint differs from the others.
type v2Endpoint struct {
	records      string // the member holding the records
	offsetParam  string // the parameter the paging cursor goes back in
	maxLimit     int64
	defaultLimit int64
	stringOffset bool // next_offset as "ms,id", not ["ms","id"]
	totalObject  bool // total_objects as {value, relation}
	sortable     bool // takes sort=ts:asc|ts:desc (else ascending)
}

var v2Endpoints = map[string]v2Endpoint{
	duo.PathAuthV2:       {records: "authlogs", offsetParam: "next_offset", maxLimit: 1000, defaultLimit: 100, sortable: true},
	duo.PathTelephonyV2:  {records: "items", offsetParam: "next_offset", maxLimit: 1000, defaultLimit: 100, stringOffset: true, totalObject: true, sortable: true},
	duo.PathActivity:     {records: "items", offsetParam: "next_offset", maxLimit: 1000, defaultLimit: 100, stringOffset: true, totalObject: true, sortable: true},
	duo.PathTrustMonitor: {records: "events", offsetParam: "offset", maxLimit: 200, defaultLimit: 50, stringOffset: true},
}

// serveV2 answers the windowed endpoints (auth, telephony and activity v2,
// Trust Monitor): mintime and maxtime in ms, both required and inclusive,
// a limit, a keyset paging cursor.
func (s *Server) serveV2(r *http.Request, empty bool) ([]byte, int) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	ep := v2Endpoints[r.URL.Path]
	req, body, status := parseV2(q, now, ep)
	if body != nil {
		return body, status
	}
	window := s.window(q.Get("account_id"), r.URL.Path, req.minMs, min(req.maxMs, now.Add(-s.delay).UnixMilli()))
	total := len(window)
	if req.hasOffset {
		window = afterOffset(window, req)
	}
	page, more := window, false
	var last Record
	if empty && len(window) > 0 && !req.desc {
		// An offset just before the first record still to come.
		page, more = nil, true
		last = Record{Time: time.UnixMilli(window[0].Time.UnixMilli() - 1), ID: "~"}
	}
	if int64(len(page)) > req.limit {
		more = true
		if req.desc {
			page = page[len(page)-int(req.limit):]
		} else {
			page = page[:req.limit]
		}
	}
	return writeV2Page(page, req.desc, more, last, total, ep), http.StatusOK
}

// v2Request is a v2 request's parameters.
type v2Request struct {
	minMs, maxMs, limit int64
	desc                bool
	hasOffset           bool
	offMs               int64
	offID               string
}

// parseV2 checks a v2 request's parameters as Duo does; body is set when
// it answers with an error.
func parseV2(q url.Values, now time.Time, ep v2Endpoint) (req v2Request, body []byte, status int) {
	minMs, okMin, err1 := intParam(q, "mintime")
	maxMs, okMax, err2 := intParam(q, "maxtime")
	switch {
	case !okMin || err1 != nil:
		body, status = badRequest("'mintime' is required and must be an integer")
	case !okMax || err2 != nil:
		body, status = badRequest("'maxtime' is required and must be an integer")
	case minMs < 1e12:
		body, status = badRequest("'mintime' must be a timestamp in milliseconds")
	case maxMs < 1e12:
		body, status = badRequest("'maxtime' must be a timestamp in milliseconds")
	case maxMs <= minMs:
		body, status = badRequest("'maxtime' must be strictly greater than 'mintime'")
	case time.UnixMilli(minMs).Before(now.Add(-Horizon)):
		body, status = badRequest("mintime must be within the past 180 days")
	}
	if body != nil {
		return req, body, status
	}
	// Duo's default order is not documented; clients must ask.
	req = v2Request{minMs: minMs, maxMs: maxMs, limit: ep.defaultLimit, desc: ep.sortable}
	if l, ok, err := intParam(q, "limit"); ok {
		if err != nil || l < 1 || l > ep.maxLimit {
			body, status = badRequest(fmt.Sprintf("'limit' must be between 1 and %d", ep.maxLimit))
			return req, body, status
		}
		req.limit = l
	}
	switch q.Get("sort") {
	case "ts:asc":
		req.desc = false
	case "", "ts:desc":
	default:
		body, status = badRequest("'sort' must be ts:asc or ts:desc")
		return req, body, status
	}
	if offs := q[ep.offsetParam]; len(offs) > 0 {
		var offMs string
		if len(offs) == 1 {
			offMs, req.offID, _ = strings.Cut(offs[0], ",")
		} else {
			offMs, req.offID = offs[0], offs[1]
		}
		ms, err := strconv.ParseInt(offMs, 10, 64)
		if err != nil || req.offID == "" {
			body, status = badRequest(fmt.Sprintf("'%s' is invalid", ep.offsetParam))
			return req, body, status
		}
		req.hasOffset, req.offMs = true, ms
	}
	return req, nil, 0
}

// stuckV2 answers a v2 request with no records and the offset it was sent
// (or one at its mintime).
func stuckV2(r *http.Request) []byte {
	q := r.URL.Query()
	ep := v2Endpoints[r.URL.Path]
	minMs, _, _ := intParam(q, "mintime")
	last := Record{Time: time.UnixMilli(minMs), ID: "stuck"}
	if offs := q[ep.offsetParam]; len(offs) > 0 {
		ms, id, _ := strings.Cut(strings.Join(offs, ","), ",")
		n, _ := strconv.ParseInt(ms, 10, 64)
		last = Record{Time: time.UnixMilli(n), ID: id}
	}
	return writeV2Page(nil, false, true, last, 0, ep)
}

// window returns an account's records of a log endpoint in [minMs, maxMs]
// (inclusive), in keyset order.
func (s *Server) window(account, path string, minMs, maxMs int64) []Record {
	var recs []Record
	if st := s.logs[logKey{account, path}]; st != nil {
		recs = st.recs
	}
	lo := sort.Search(len(recs), func(i int) bool { return recs[i].Time.UnixMilli() >= minMs })
	hi := sort.Search(len(recs), func(i int) bool { return recs[i].Time.UnixMilli() > maxMs })
	return recs[lo:max(hi, lo)]
}

// afterOffset keeps the records that come after the request's offset, in
// its order.
func afterOffset(window []Record, req v2Request) []Record {
	after := func(rec Record) bool {
		rm := rec.Time.UnixMilli()
		if rm != req.offMs {
			return (rm > req.offMs) != req.desc
		}
		return (rec.ID > req.offID) != req.desc
	}
	if req.desc {
		i := sort.Search(len(window), func(i int) bool { return !after(window[i]) })
		return window[:i]
	}
	i := sort.Search(len(window), func(i int) bool { return after(window[i]) })
	return window[i:]
}

// writeV2Page encodes a page as the endpoint does: records under items
// (telephony) or authlogs, and next_offset as "ms,id" (telephony) or
// ["ms","id"], after last when more is set (or the page's own last).
func writeV2Page(page []Record, desc, more bool, last Record, total int, ep v2Endpoint) []byte {
	var b bytes.Buffer
	b.Grow(64 + len(page)*1600)
	fmt.Fprintf(&b, `{"stat":"OK","response":{%q:[`, ep.records)
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
	case ep.stringOffset:
		fmt.Fprintf(&b, `"%d,%s"`, last.Time.UnixMilli(), last.ID)
	default:
		fmt.Fprintf(&b, `["%d","%s"]`, last.Time.UnixMilli(), last.ID)
	}
	if ep.totalObject {
		fmt.Fprintf(&b, `,"total_objects":{"value":%d,"relation":"eq"}}}}`, total)
	} else {
		fmt.Fprintf(&b, `,"total_objects":%d}}}`, total)
	}
	return b.Bytes()
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
		if s.v1Trim && end > s.pageLimitV1 {
			// Fewer rather than more: drop the straddling second, unless
			// it is the first (a second is never split).
			if cut := sort.Search(len(page), func(i int) bool { return page[i].Time.Unix() >= lastSec }); cut > 0 {
				end = cut
			}
		}
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
