package normalize

import "time"

// appendTimestamp parses an RFC 3339 time (any offset, any number of
// fraction digits) and appends it in UTC as YYYY-MM-DDTHH:MM:SS[.ffffff]Z:
// the fraction truncated to microseconds and left out when zero. It reports
// false, appending nothing, when s is not such a time.
func appendTimestamp(dst, s []byte) ([]byte, bool) {
	t, ok := parseTimestamp(s)
	if !ok {
		return dst, false
	}
	return appendTime(dst, t), true
}

// appendTime writes t, in UTC, as YYYY-MM-DDTHH:MM:SS[.ffffff]Z: the
// fraction truncated to microseconds, left out when zero.
func appendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	hh, mm, ss := t.Clock()
	dst = appendInt(dst, y, 4)
	dst = append(dst, '-')
	dst = appendInt(dst, int(mo), 2)
	dst = append(dst, '-')
	dst = appendInt(dst, d, 2)
	dst = append(dst, 'T')
	dst = appendInt(dst, hh, 2)
	dst = append(dst, ':')
	dst = appendInt(dst, mm, 2)
	dst = append(dst, ':')
	dst = appendInt(dst, ss, 2)
	if micros := t.Nanosecond() / 1000; micros != 0 {
		dst = append(dst, '.')
		dst = appendInt(dst, micros, 6)
	}
	return append(dst, 'Z')
}

// parseTimestamp parses an RFC 3339 time (any offset, any number of
// fraction digits) into UTC, truncated to microseconds, without
// allocating.
func parseTimestamp(s []byte) (time.Time, bool) {
	var zero time.Time
	dst := zero
	// 2006-01-02T15:04:05 is 19 bytes; a zone needs at least one more.
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return dst, false
	}
	switch s[10] {
	case 'T', 't', ' ':
	default:
		return dst, false
	}
	year, ok1 := atoiN(s[0:4])
	month, ok2 := atoiN(s[5:7])
	day, ok3 := atoiN(s[8:10])
	hour, ok4 := atoiN(s[11:13])
	minute, ok5 := atoiN(s[14:16])
	sec, ok6 := atoiN(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 ||
		day > daysIn(time.Month(month), year) || hour > 23 || minute > 59 || sec > 59 {
		return dst, false
	}
	rest := s[19:]
	micros := 0
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			if n <= 6 {
				micros = micros*10 + int(rest[n]-'0')
			}
			n++
		}
		if n == 1 {
			return dst, false
		}
		for i := n; i <= 6; i++ { // fewer than 6 digits: scale up
			micros *= 10
		}
		rest = rest[n:]
	}
	var offset int
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case (len(rest) == 6 && rest[3] == ':' || len(rest) == 5) && (rest[0] == '+' || rest[0] == '-'):
		h, okh := atoiN(rest[1:3])
		m, okm := atoiN(rest[len(rest)-2:])
		if !okh || !okm || h > 23 || m > 59 {
			return dst, false
		}
		offset = h*3600 + m*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return dst, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, micros*1000, time.UTC).Add(-time.Duration(offset) * time.Second)
	// Only an offset from year 0 or 9999 can leave the years an index
	// takes.
	if year == 0 || year == 9999 {
		if y := t.Year(); y < 0 || y > 9999 {
			return dst, false
		}
	}
	return t, true
}

// atoiN parses a fixed-width run of ASCII digits.
func atoiN(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// appendInt appends n zero-padded to width digits.
func appendInt(dst []byte, n, width int) []byte {
	var buf [8]byte
	for i := width - 1; i >= 0; i-- {
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, buf[:width]...)
}

func daysIn(m time.Month, year int) int {
	if m == time.February {
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 30 + int(m+m/8)%2 // 31 in January, March, May, July, August, October, December
}
