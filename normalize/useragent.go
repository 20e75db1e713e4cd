package normalize

import (
	"container/list"
	"sync"
	"sync/atomic"

	"github.com/ua-parser/uap-go/uaparser"
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

	once   sync.Once
	parser *uaparser.Parser

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
	c.once.Do(func() {
		// Our cache sits in front; the library's own needs only to be valid.
		c.parser, _ = uaparser.New(uaparser.WithCacheSize(1))
	})
	agent := c.parser.ParseUserAgent(ua)
	os := c.parser.ParseOs(ua)
	device := c.parser.ParseDevice(ua)
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
