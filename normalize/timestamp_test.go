package normalize

import (
	"testing"
	"time"
)

func TestAppendTimestamp(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"2020-02-13T18:56:20.351346+00:00", "2020-02-13T18:56:20.351346Z"},
		{"2020-01-24T15:09:42+00:00", "2020-01-24T15:09:42Z"},
		{"2020-01-24T15:09:42.000000+00:00", "2020-01-24T15:09:42Z"},
		{"2020-01-24T15:09:42.549+00:00", "2020-01-24T15:09:42.549000Z"},
		{"2020-01-24T15:09:42.9999999+00:00", "2020-01-24T15:09:42.999999Z"},
		{"2020-01-24T15:09:42.0000009Z", "2020-01-24T15:09:42Z"},
		{"2020-01-24T15:09:42.1z", "2020-01-24T15:09:42.100000Z"},
		{"2020-01-01T01:00:00+02:00", "2019-12-31T23:00:00Z"},
		{"2020-02-28T22:30:00-01:30", "2020-02-29T00:00:00Z"},
		{"2020-01-24 15:09:42+0100", "2020-01-24T14:09:42Z"},
		{"2020-01-24t15:09:42Z", "2020-01-24T15:09:42Z"},
		// Not times: no output.
		{"2020-01-24T15:09:42", ""},
		{"2020-01-24T15:09:42.+00:00", ""},
		{"2020-02-30T15:09:42Z", ""},
		{"2020-13-01T15:09:42Z", ""},
		{"2020-01-24T24:00:00Z", ""},
		{"2020-01-24T15:09:60Z", ""},
		{"2020-01-24T15:09:42+24:00", ""},
		{"2020-01-24T15:09:42+01:00x", ""},
		{"yesterday", ""},
		{"", ""},
		{"0000-01-01T00:00:00+01:00", ""},
	} {
		out, ok := appendTimestamp(nil, []byte(tc.in))
		if got := string(out); got != tc.want || ok != (tc.want != "") {
			t.Errorf("appendTimestamp(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

func TestJoinVersion(t *testing.T) {
	for _, tc := range []struct{ major, minor, patch, want string }{
		{"", "1", "2", ""}, {"8", "", "", "8"}, {"8", "1", "", "8.1"}, {"8", "1", "3", "8.1.3"}, {"8", "", "3", "8"},
	} {
		if got := joinVersion(tc.major, tc.minor, tc.patch); got != tc.want {
			t.Errorf("joinVersion(%q, %q, %q) = %q, want %q", tc.major, tc.minor, tc.patch, got, tc.want)
		}
	}
}

// TestDaysIn: the month lengths, against the time package's calendar.
func TestDaysIn(t *testing.T) {
	for year := 0; year <= 2400; year++ {
		for m := time.January; m <= time.December; m++ {
			if got, want := daysIn(m, year), time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day(); got != want {
				t.Fatalf("daysIn(%s, %d) = %d, want %d", m, year, got, want)
			}
		}
	}
}
