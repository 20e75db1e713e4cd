package duotest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duotest"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T, opts ...duotest.Option) (*duotest.Server, *duo.Client) {
	t.Helper()
	srv := duotest.New(t, append([]duotest.Option{duotest.WithClock(func() time.Time { return now })}, opts...)...)
	cfg := srv.ClientConfig()
	cfg.Retry = duo.RetryConfig{MaxAttempts: 1}
	c, err := duo.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// TestV2Validation: the v2 endpoints refuse what Duo refuses, with its
// message_detail.
func TestV2Validation(t *testing.T) {
	_, c := setup(t)
	for _, tc := range []struct {
		name   string
		params url.Values
		detail string
	}{
		{"seconds, not ms", url.Values{"mintime": {"1700000000"}, "maxtime": {"1700000100"}}, "'mintime' must be a timestamp in milliseconds"},
		{"empty window", url.Values{"mintime": {ms(now.Add(-time.Hour))}, "maxtime": {ms(now.Add(-time.Hour))}}, "'maxtime' must be strictly greater than 'mintime'"},
		{"past the horizon", url.Values{"mintime": {ms(now.Add(-181 * 24 * time.Hour))}, "maxtime": {ms(now)}}, "mintime must be within the past 180 days"},
		{"limit over 1000", url.Values{"mintime": {ms(now.Add(-time.Hour))}, "maxtime": {ms(now)}, "limit": {"1001"}}, "'limit' must be between 1 and 1000"},
		{"missing maxtime", url.Values{"mintime": {ms(now.Add(-time.Hour))}}, "'maxtime' is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Get(context.Background(), duo.PathAuthV2, tc.params)
			var apiErr *duo.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.HasPrefix(apiErr.Detail, tc.detail) {
				t.Fatalf("err = %v, want 400 with detail %q", err, tc.detail)
			}
		})
	}
}

// TestV2BoundsAndDelay: mintime and maxtime are inclusive, and records
// younger than the 2-minute delay are invisible whatever maxtime says.
func TestV2BoundsAndDelay(t *testing.T) {
	srv, c := setup(t)
	gen := duotest.NewGenerator(1)
	lo, hi := now.Add(-time.Hour).Truncate(time.Millisecond), now.Add(-30*time.Minute).Truncate(time.Millisecond)
	young := gen.Record(duo.Auth, now.Add(-time.Minute))
	srv.Add(gen.Record(duo.Auth, lo.Add(-time.Millisecond)), gen.Record(duo.Auth, lo), gen.Record(duo.Auth, hi),
		gen.Record(duo.Auth, hi.Add(time.Millisecond)), young)
	get := func(min, max time.Time) int {
		resp, err := c.Get(context.Background(), duo.PathAuthV2, url.Values{"mintime": {ms(min)}, "maxtime": {ms(max)}, "limit": {"1000"}})
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			AuthLogs []json.RawMessage `json:"authlogs"`
		}
		json.Unmarshal(resp.Body, &body)
		return len(body.AuthLogs)
	}
	if n := get(lo, hi); n != 2 {
		t.Errorf("[lo, hi] returned %d records, want 2 (both bounds inclusive)", n)
	}
	if n := get(now.Add(-10*time.Minute), now); n != 0 {
		t.Errorf("a record 1 minute old was returned: %d", n)
	}
}

// TestV1PagesNeverSplitASecond: the earliest 1000 records, completed to the
// end of their last second, in shuffled order.
func TestV1PagesNeverSplitASecond(t *testing.T) {
	srv, c := setup(t)
	gen := duotest.NewGenerator(2)
	sec := now.Add(-time.Hour).Truncate(time.Second)
	srv.Add(gen.Spread(duo.Admin, sec.Add(-10*time.Minute), sec, 900)...)
	srv.Add(gen.Burst(duo.Admin, sec, 500)...)
	srv.Add(gen.Spread(duo.Admin, sec.Add(time.Second), sec.Add(10*time.Minute), 900)...)
	resp, err := c.Get(context.Background(), duo.PathAdmin, url.Values{"mintime": {strconv.FormatInt(sec.Add(-time.Hour).Unix(), 10)}})
	if err != nil {
		t.Fatal(err)
	}
	var recs []struct {
		Timestamp int64 `json:"timestamp"`
	}
	if err := json.Unmarshal(resp.Body, &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1400 {
		t.Fatalf("page of %d records, want 1400 (900 before the burst second and all 500 of it)", len(recs))
	}
	sorted := true
	for i := 1; i < len(recs); i++ {
		if recs[i].Timestamp < recs[i-1].Timestamp {
			sorted = false
		}
		if recs[i].Timestamp > sec.Unix() {
			t.Fatalf("record after the burst second in the first page")
		}
	}
	if sorted {
		t.Error("v1 page came sorted; Duo guarantees no order and the fake shuffles")
	}
}

// TestFaultsAreRecorded: injected faults answer in Duo's error shape and
// the request log keeps what was asked and answered.
func TestFaultsAreRecorded(t *testing.T) {
	srv, c := setup(t)
	srv.Inject(duotest.Fault{Path: duo.PathOffline, Status: 500})
	_, err := c.Get(context.Background(), duo.PathOffline, url.Values{"mintime": {strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)}})
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("err = %v", err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Status != 500 || reqs[0].Path != duo.PathOffline {
		t.Fatalf("requests = %+v", reqs)
	}
}

// TestV1PageOptions: WithV1PageSize sets where a page may end (still never
// inside a second), WithoutShuffle keeps pages in time order.
func TestV1PageOptions(t *testing.T) {
	srv, c := setup(t, duotest.WithV1PageSize(10), duotest.WithoutShuffle())
	gen := duotest.NewGenerator(4)
	sec := now.Add(-time.Hour).Truncate(time.Second)
	srv.Add(gen.Spread(duo.Offline, sec.Add(-time.Minute), sec, 8)...)
	srv.Add(gen.Burst(duo.Offline, sec, 5)...)
	srv.Add(gen.Spread(duo.Offline, sec.Add(time.Second), sec.Add(time.Minute), 8)...)
	resp, err := c.Get(context.Background(), duo.PathOffline, url.Values{"mintime": {strconv.FormatInt(sec.Add(-time.Hour).Unix(), 10)}})
	if err != nil {
		t.Fatal(err)
	}
	var recs []struct {
		Timestamp int64 `json:"timestamp"`
	}
	json.Unmarshal(resp.Body, &recs)
	if len(recs) != 13 {
		t.Fatalf("page of %d, want 13 (10, completed to the end of the burst second)", len(recs))
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Timestamp < recs[i-1].Timestamp {
			t.Fatal("page not in time order with WithoutShuffle")
		}
	}
}
