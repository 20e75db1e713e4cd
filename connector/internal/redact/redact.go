// Package redact hides the credentials a URL or address may carry, so that
// an error or log line can show where the connector tried to connect
// without showing a password.
package redact

import (
	"net/url"
	"regexp"
)

// Mask replaces a password.
const Mask = "xxxxx"

// userinfo matches "scheme://user:pass@" or "user:pass@" before the host,
// for strings url.Parse refuses.
var userinfo = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*://)?[^/?#]*@`)

// URL returns s with the password of its userinfo masked. A string that
// does not parse as a URL loses its whole userinfo.
func URL(s string) string {
	u, err := url.Parse(s)
	if err == nil && u.Host != "" {
		if u.User == nil {
			return s
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Mask)
		}
		return u.String()
	}
	return userinfo.ReplaceAllString(s, "${1}"+Mask+"@")
}
