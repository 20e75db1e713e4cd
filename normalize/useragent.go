package normalize

import (
	"container/list"
	"fmt"
	"math/bits"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ua-parser/uap-go/uaparser"
	"gopkg.in/yaml.v3"
)

// uaFields is one parsed user-agent string, each field already encoded as a
// JSON string (nil when the field is not set).
type uaFields struct {
	name, version, device, osName, osVersion []byte
}

// uaCache parses user-agent strings with uap-core's rules and remembers the
// most recently used results: offline-enrollment records repeat the same few
// DuoCredProv strings, and one uncached parse runs hundreds of regexps.
type uaCache struct {
	size int

	once  sync.Once
	rules *uaRules

	mu    sync.Mutex
	items map[string]*list.Element
	order list.List // front: most recently used

	hits, misses atomic.Int64
}

type uaEntry struct {
	key    string
	fields uaFields
}

func newUACache(size int) *uaCache {
	if size < 1 {
		size = 1
	}
	return &uaCache{size: size, items: make(map[string]*list.Element, size)}
}

func (c *uaCache) lookup(ua []byte) uaFields {
	c.mu.Lock()
	if e, ok := c.items[string(ua)]; ok {
		c.order.MoveToFront(e)
		f := e.Value.(*uaEntry).fields
		c.mu.Unlock()
		c.hits.Add(1)
		return f
	}
	c.mu.Unlock()
	c.misses.Add(1)

	f := c.parse(string(ua))

	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[string(ua)]; ok { // parsed concurrently
		return f
	}
	c.items[string(ua)] = c.order.PushFront(&uaEntry{key: string(ua), fields: f})
	if c.order.Len() > c.size {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*uaEntry).key)
	}
	return f
}

func (c *uaCache) parse(ua string) uaFields {
	c.once.Do(func() { c.rules = loadUARules() })
	parser := c.rules.parserFor(ua)
	agent := parser.ParseUserAgent(ua)
	os := parser.ParseOs(ua)
	device := parser.ParseDevice(ua)
	return uaFields{
		name:      quotedOrNil(agent.Family),
		version:   quotedOrNil(joinVersion(agent.Major, agent.Minor, agent.Patch)),
		device:    quotedOrNil(device.Family),
		osName:    quotedOrNil(os.Family),
		osVersion: quotedOrNil(joinVersion(os.Major, os.Minor, os.Patch)),
	}
}

// joinVersion renders major[.minor[.patch]], or "" without a major.
func joinVersion(major, minor, patch string) string {
	if major == "" {
		return ""
	}
	v := major
	if minor != "" {
		v += "." + minor
		if patch != "" {
			v += "." + patch
		}
	}
	return v
}

func quotedOrNil(s string) []byte {
	if s == "" {
		return nil
	}
	return appendQuotedString(nil, s)
}

// uaRules are uap-core's rules as uap-go ships them, parsed but not
// compiled: compiled all at once they are some 15 MiB of heap (the larger
// part of the connector's), for a handful of distinct user agents in the
// offline-enrollment log. Each rule carries the literals any match of its
// regexp must contain, where the regexp says so; a user agent is parsed by
// a uap-go parser of only the rules it could match, in their order, which
// answers exactly as the full list does (a rule left out cannot match),
// and is garbage once the answer is cached.
type uaRules struct {
	defs           uaparser.RegexDefinitions
	ua, os, device [][]uaLiteral

	// The parser compiled last, and the rules it has (a bitset over UA,
	// then OS, then device rules). User agents that miss the cache mostly
	// differ in versions, not in the rules they could match; a parser with
	// more rules than a user agent could match answers as one with just
	// those (the others cannot match, and the order is kept), and a parser
	// costs some 5 ms and megabytes of garbage to compile.
	mu         sync.Mutex
	lastRules  []uint64
	lastParser *uaparser.Parser
}

// uaLiteral is a string a match must contain; fold: in any case.
type uaLiteral struct {
	s    string
	fold bool
}

func loadUARules() *uaRules {
	r := &uaRules{}
	if err := yaml.Unmarshal(uaparser.DefinitionYaml, &r.defs); err != nil {
		panic(fmt.Sprintf("uap-go's own rules do not parse: %v", err)) // a broken dependency
	}
	lits := func(expr, flags string) []uaLiteral {
		if flags != "" {
			expr = "(?" + flags + ")" + expr
		}
		re, err := syntax.Parse(expr, syntax.Perl)
		if err != nil {
			return nil // no filter: uap-go will report it
		}
		return requiredLiterals(re)
	}
	for _, p := range r.defs.UA {
		r.ua = append(r.ua, lits(p.Expr, p.Flags))
	}
	for _, p := range r.defs.OS {
		r.os = append(r.os, lits(p.Expr, p.Flags))
	}
	for _, p := range r.defs.Device {
		r.device = append(r.device, lits(p.Expr, p.Flags))
	}
	return r
}

// requiredLiterals returns literals every match of re contains: those
// concatenated at its top (through groups and repetitions of at least
// one), none below an alternation or an optional part.
func requiredLiterals(re *syntax.Regexp) []uaLiteral {
	switch re.Op {
	case syntax.OpLiteral:
		return []uaLiteral{{s: string(re.Rune), fold: re.Flags&syntax.FoldCase != 0}}
	case syntax.OpCapture, syntax.OpPlus:
		return requiredLiterals(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredLiterals(re.Sub[0])
		}
	case syntax.OpConcat:
		var out []uaLiteral
		for _, sub := range re.Sub {
			out = append(out, requiredLiterals(sub)...)
		}
		return out
	}
	return nil
}

// could reports whether ua contains every literal. A case-folded literal
// is checked only on an ASCII user agent: Unicode folding matches some
// non-ASCII letters to ASCII ones (K, the Kelvin sign, and k).
func could(lits []uaLiteral, ua string, ascii bool) bool {
	for _, l := range lits {
		switch {
		case !l.fold:
			if !strings.Contains(ua, l.s) {
				return false
			}
		case ascii && isASCII(l.s):
			if !containsFoldASCII(ua, l.s) {
				return false
			}
		}
	}
	return true
}

// maxSharedRules bounds the rules of a parser shared by user agents that
// could match different ones: past it, a parser has only the rules one
// could match (uap-core has some 1,200; about 150 fit a user agent).
const maxSharedRules = 400

// parserFor returns a uap-go parser of at least the rules ua could match,
// in uap-core's order.
func (r *uaRules) parserFor(ua string) *uaparser.Parser {
	ascii := isASCII(ua)
	n := len(r.ua) + len(r.os) + len(r.device)
	need := make([]uint64, (n+63)/64)
	for i, lits := range slices.Concat(r.ua, r.os, r.device) {
		if could(lits, ua, ascii) {
			need[i/64] |= 1 << (i % 64)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lastParser != nil {
		subset := true
		union := make([]uint64, len(need))
		count := 0
		for i := range need {
			subset = subset && need[i]&^r.lastRules[i] == 0
			union[i] = need[i] | r.lastRules[i]
			count += bits.OnesCount64(union[i])
		}
		if subset {
			return r.lastParser
		}
		if count <= maxSharedRules {
			need = union
		}
	}
	var sub uaparser.RegexDefinitions
	has := func(i int) bool { return need[i/64]&(1<<(i%64)) != 0 }
	for i, p := range r.defs.UA {
		if has(i) {
			sub.UA = append(sub.UA, p)
		}
	}
	for i, p := range r.defs.OS {
		if has(len(r.ua) + i) {
			sub.OS = append(sub.OS, p)
		}
	}
	for i, p := range r.defs.Device {
		if has(len(r.ua) + len(r.os) + i) {
			sub.Device = append(sub.Device, p)
		}
	}
	// Copies: uap-go compiles into the rules it is given.
	p, _ := uaparser.New(uaparser.WithRegexDefinitions(*sub.Clone()), uaparser.WithCacheSize(1))
	r.lastRules, r.lastParser = need, p
	return p
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// containsFoldASCII is strings.Contains ignoring ASCII case.
func containsFoldASCII(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], sub) {
			return true
		}
	}
	return false
}
