// Package accounts names the Duo accounts one connector reads: the
// account of its own keys, an explicit list of accounts with keys of their
// own, and an MSP's child accounts as the Accounts API lists them, chosen
// by include and exclude globs.
package accounts

import (
	"github.com/duo-connector/duo-connector/connector/fault"
	"github.com/duo-connector/duo-connector/connector/internal/redact"

	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/duo-connector/duo-connector/connector/duo"
)

// Account is one Duo account to read.
type Account struct {
	// Name is what people call it (logs, metrics, headers); may be empty.
	Name string
	// ID is the MSP child account id sent as account_id ("" for an
	// account read with keys of its own).
	ID string
	// APIHost, IKey and SKey reach and sign for the account's Admin API
	// (for a child: its api_hostname and the parent's keys).
	APIHost, IKey string
	SKey          redact.Secret
	// Logs are the log types read from it.
	Logs []duo.LogType
	// RequestsPerSecond is its request budget (0: the default).
	RequestsPerSecond float64
	// KeysAt names where the configuration sets its keys, for hints
	// (see duo.Config.KeysAt).
	KeysAt string

	// label, when set, replaces Label: a name another account has too.
	label string
}

// WithLabel returns a with Label l: the reader of many accounts gives
// one whose name another has (two MSP children may share one) a label of
// its own, since labels key its metrics, readiness and logs.
func (a Account) WithLabel(l string) Account {
	a.label = l
	return a
}

// Key identifies the account's cursors: its API host, and the child id
// when there is one. It does not change when the account is renamed.
func (a Account) Key() string {
	if a.ID != "" {
		return a.APIHost + "/" + a.ID
	}
	return a.APIHost
}

// Label is the account's name, or its key when it has none (or the label
// given with WithLabel).
func (a Account) Label() string {
	if a.label != "" {
		return a.label
	}
	if a.Name != "" {
		return a.Name
	}
	return a.Key()
}

// TopicName is the account in Kafka topic names ({account}): its child
// id, else its name, else its API host, with any character a topic name
// may not hold replaced by '_'.
func (a Account) TopicName() string {
	n := a.ID
	if n == "" {
		n = a.Name
	}
	if n == "" {
		n = a.APIHost
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, n)
}

// Matches reports whether s names the account: its name, its child id,
// its API host or its key.
func (a Account) Matches(s string) bool {
	return s != "" && (s == a.Name || s == a.ID || s == a.APIHost || s == a.Key())
}

// DuoAccount is what the Duo client needs of it.
func (a Account) DuoAccount() duo.Account {
	return duo.Account{APIHost: a.APIHost, IKey: a.IKey, SKey: a.SKey, AccountID: a.ID, RequestsPerSecond: a.RequestsPerSecond, KeysAt: a.KeysAt}
}

// Filter chooses child accounts by globs matched against a child's id or
// name: * is any run of characters (slashes too), ? one character, [a-z]
// a class; matching ignores case. A child is read when it matches an
// include pattern (or there are none) and no exclude pattern.
type Filter struct {
	Include, Exclude []string
}

// Validate reports malformed patterns.
func (f Filter) Validate() error {
	for _, p := range slices.Concat(f.Include, f.Exclude) {
		if _, err := globRegexp(p); err != nil {
			return fmt.Errorf("%q is not a glob (use * and ?, [a-z], \\ to escape)", p)
		}
	}
	return nil
}

// Keep reports whether the child with this id and name is read.
func (f Filter) Keep(id, name string) bool {
	match := func(patterns []string) bool {
		for _, p := range patterns {
			re, err := globRegexp(p)
			if err == nil && (re.MatchString(id) || re.MatchString(name)) {
				return true
			}
		}
		return false
	}
	return (len(f.Include) == 0 || match(f.Include)) && !match(f.Exclude)
}

// globRegexp translates a glob into an anchored, case-insensitive regexp.
func globRegexp(glob string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("(?is)^")
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '\\':
			if i+1 == len(glob) {
				return nil, errors.New("trailing backslash")
			}
			i++
			b.WriteString(regexp.QuoteMeta(glob[i : i+1]))
		case '[':
			j := strings.IndexByte(glob[i:], ']')
			if j < 2 {
				return nil, errors.New("unterminated class")
			}
			class := glob[i+1 : i+j]
			if class[0] == '!' {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// Children turns the Accounts API's listing into accounts read with the
// parent's keys, the filter applied, in the listing's order.
func Children(list []duo.ChildAccount, parent Account, f Filter) []Account {
	var out []Account
	for _, c := range list {
		if !f.Keep(c.AccountID, c.Name) {
			continue
		}
		a := parent
		a.Name, a.ID, a.APIHost = c.Name, c.AccountID, c.APIHostname
		out = append(out, a)
	}
	return out
}

// Select returns the accounts any of names matches (see Matches), in the
// order of all; a name that matches none is an error listing the known
// ones.
func Select(all []Account, names []string) ([]Account, error) {
	out, unknown := Matching(all, names)
	if len(unknown) > 0 {
		known := make([]string, 0, len(all))
		for _, a := range all {
			known = append(known, a.Label())
		}
		if len(known) > 10 {
			known = append(known[:10], "...")
		}
		return nil, fault.Configf("no account is named %q (known: %s)", unknown[0], strings.Join(known, ", "))
	}
	return out, nil
}

// Matching returns the accounts any of names matches, in the order of all
// (every account a name matches: two children may share a name), and the
// names that match none.
func Matching(all []Account, names []string) (out []Account, unknown []string) {
	matched := make([]bool, len(names))
	for _, a := range all {
		hit := false
		for i, n := range names {
			if a.Matches(n) {
				matched[i], hit = true, true
			}
		}
		if hit {
			out = append(out, a)
		}
	}
	for i, n := range names {
		if !matched[i] {
			unknown = append(unknown, n)
		}
	}
	return out, unknown
}

// Resolve names the one account whose cursors a command acts on, by its
// key: the one name matches among the configured accounts (static), or
// among the keys of saved cursors (an MSP child, by its id). An empty
// name means the one account configured, when there is one and no
// children are discovered.
func Resolve(static []Account, discover bool, name string, saved []string) (string, error) {
	if name == "" {
		if len(static) == 1 && !discover {
			return static[0].Key(), nil
		}
		return "", fault.Configf("several accounts are configured: name the one with --account (its name, child account id or API host; 'checkpoint show' lists them)")
	}
	if sel, err := Select(static, []string{name}); err == nil {
		return sel[0].Key(), nil
	}
	var found []string
	for _, key := range saved {
		if keyNamed(key, name) && !slices.Contains(found, key) {
			found = append(found, key)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fault.Configf("no account %q is configured or has cursors ('checkpoint show' lists them)", name)
	}
	return "", fault.Configf("--account %q matches several accounts (%s): give the full one", name, strings.Join(found, ", "))
}

// Named reports whether the account key (a saved cursor's) is the one
// name names (any when name is empty).
func Named(static []Account, name, key string) bool {
	if name == "" {
		return true
	}
	for _, a := range static {
		if a.Matches(name) && a.Key() == key {
			return true
		}
	}
	return keyNamed(key, name)
}

// keyNamed reports whether an account key is name, or an MSP child's key
// (host/id) whose id is name.
func keyNamed(key, name string) bool {
	return key == name || strings.HasSuffix(key, "/"+name)
}
