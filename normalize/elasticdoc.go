package normalize

import (
	"bytes"
	"math/bits"
	"strings"

	"github.com/duo-connector/duo-connector/normalize/jsonscan"
)

// The elastic document is written in two parts. The ECS fields are slots
// (ecsDoc), filled in any order and written in one fixed order. The
// vendor object, cisco_duo.<dataset>, is streamed (body): each member of
// the record is written as the scan reaches it, renamed, split or
// converted as the dataset's rules say. A name written twice in one
// object (a record with a duplicate member, or a rename onto a member the
// record has too) is noticed, and the body is then rebuilt through a tree
// (edoc) that merges them: Elasticsearch refuses a document that names a
// field twice.

// ecsSlot names one ECS field of the document.
type ecsSlot uint8

const (
	sTimestamp ecsSlot = iota
	sECSVersion
	sErrorMessage
	sEventKind
	sEventCategory
	sEventType
	sEventOutcome
	sEventReason
	sEventAction
	sEventID
	sEventDataset
	sEventOriginal // written from ecsDoc.original
	sMessage
	sObserverHostname
	sObserverVendor
	sObserverProduct
	sRelatedIP
	sRelatedUser
	sRelatedHosts
	sSourceAddress
	sSourceIP
	sSourcePort
	sSourceUserEmail
	sSourceUserID
	sSourceUserName
	sSourceUserGroupName
	sSourceGeo
	sSourceAS
	sURLOriginal
	sURLScheme
	sURLDomain
	sURLPort
	sURLPath
	sURLExtension
	sURLQuery
	sURLFragment
	sUserName
	sUserEmail
	sUserID
	sUserTargetName
	sUserChangesName
	sUserChangesEmail
	sUserAgentName
	sUserAgentVersion
	sUserAgentOSName
	sUserAgentOSVersion
	sCiscoDuo // {"<dataset>":{...}}
	numSlots  // at most 64: ecsDoc.mask marks them
)

// slotNames are the slots' dotted names, in the order written: the
// fields of one object stay together (TestSlotsGrouped).
var slotNames = [numSlots]string{
	"@timestamp", "ecs.version", "error.message",
	"event.kind", "event.category", "event.type", "event.outcome", "event.reason", "event.action", "event.id", "event.dataset", "event.original",
	"message", "observer.hostname", "observer.vendor", "observer.product",
	"related.ip", "related.user", "related.hosts",
	"source.address", "source.ip", "source.port", "source.user.email", "source.user.id", "source.user.name", "source.user.group.name", "source.geo", "source.as",
	"url.original", "url.scheme", "url.domain", "url.port", "url.path", "url.extension", "url.query", "url.fragment",
	"user.name", "user.email", "user.id", "user.target.name", "user.changes.name", "user.changes.email",
	"user_agent.name", "user_agent.version", "user_agent.os.name", "user_agent.os.version",
	"cisco_duo",
}

// slotPaths are slotNames split at their dots.
var slotPaths = func() (p [numSlots][]string) {
	for i, n := range slotNames {
		p[i] = strings.Split(n, ".")
	}
	return p
}()

// ecsDoc holds the ECS fields' values (JSON text), those set marked in
// mask.
type ecsDoc struct {
	vals [numSlots][]byte
	mask uint64
	// original is the raw record, for event.original (quoted as written).
	original []byte
}

// set sets slot s's value; nil unsets it.
func (e *ecsDoc) set(s ecsSlot, v []byte) {
	e.vals[s] = v
	if v == nil {
		e.mask &^= 1 << s
	} else {
		e.mask |= 1 << s
	}
}

// get is slot s's value, or nil.
func (e *ecsDoc) get(s ecsSlot) []byte {
	if e.mask&(1<<s) == 0 {
		return nil
	}
	return e.vals[s]
}

// reset unsets every slot.
func (e *ecsDoc) reset() { e.mask, e.original = 0, nil }

// appendTo writes the document: the slots set, nested as their names say.
func (e *ecsDoc) appendTo(dst []byte) []byte {
	set := e.mask
	if e.original != nil {
		set |= 1 << sEventOriginal
	}
	from := int(numSlots) // the start
	for set != 0 {
		i := bits.TrailingZeros64(set)
		set &= set - 1
		dst = append(dst, slotJoins[from][i]...)
		if i == int(sEventOriginal) && e.original != nil {
			dst = appendQuotedUTF8(dst, e.original) // the scanner read it all: valid UTF-8
		} else {
			dst = append(dst, e.vals[i]...)
		}
		from = i
	}
	return append(dst, slotJoins[from][numSlots]...)
}

// slotJoins[a][b] is the text between slot a's value and slot b's (the
// objects closed and opened, a comma, b's name): numSlots as a stands for
// the document's start, as b for its end.
var slotJoins = func() (j [numSlots + 1][numSlots + 1][]byte) {
	for a := range int(numSlots) + 1 {
		for b := range int(numSlots) + 1 {
			var from, to []string
			if a < int(numSlots) {
				from = slotPaths[a]
			}
			if b < int(numSlots) {
				to = slotPaths[b]
			}
			j[a][b] = join(from, to)
		}
	}
	return j
}()

// join is the text between the value at path from (nil: the start) and
// the value at path to (nil: the end).
func join(from, to []string) []byte {
	var out []byte
	if from == nil {
		out = append(out, '{')
	}
	open := from[:max(len(from)-1, 0)]
	parents := to[:max(len(to)-1, 0)]
	c := 0
	for c < len(open) && c < len(parents) && open[c] == parents[c] {
		c++
	}
	for range len(open) - c {
		out = append(out, '}')
	}
	if to == nil {
		return append(out, '}')
	}
	// The object c levels deep holds from or the object from is in: a
	// comma after it.
	if from != nil {
		out = append(out, ',')
	}
	for _, p := range parents[c:] {
		out = append(append(append(out, '"'), p...), '"', ':', '{')
	}
	return append(append(append(out, '"'), to[len(to)-1]...), '"', ':')
}

// bodyPad is room left before the body for the head written once the
// dataset's name is known ({"telephony_v2":).
const bodyPad = 32

// level is an object of the body being written.
type level struct {
	mark  int       // where its member began (for taking it back)
	n     int       // members written
	names [2]uint64 // a filter of the names written (bits of their hashes)
	start int       // its names' hashes, in elastic.names from here
}

// open begins the object level of the member whose head was written at
// mark.
func (x *elastic) open(mark int) {
	x.body = append(x.body, '{')
	x.levels = append(x.levels, level{mark: mark, start: len(x.names)})
}

// close ends the current object; one left empty is taken back (with its
// name) and close reports false.
func (x *elastic) close() bool {
	lv := x.levels[len(x.levels)-1]
	x.levels = x.levels[:len(x.levels)-1]
	x.names = x.names[:lv.start]
	if lv.n == 0 {
		x.undo(lv.mark)
		return false
	}
	x.body = append(x.body, '}')
	return true
}

// discard takes back the current object, with its name.
func (x *elastic) discard() {
	lv := x.levels[len(x.levels)-1]
	x.levels = x.levels[:len(x.levels)-1]
	x.names = x.names[:lv.start]
	x.undo(lv.mark)
}

// head writes the head of a member of the current object (a comma when
// not its first, the name, a colon) and returns where it began. A name
// the object has already is noticed (x.dup).
func (x *elastic) head(name []byte, esc bool) int {
	lv := &x.levels[len(x.levels)-1]
	at := len(x.body)
	if lv.n > 0 {
		x.body = append(x.body, ',')
	}
	if esc {
		x.body = appendQuoted(x.body, name)
	} else {
		x.body = append(append(append(x.body, '"'), name...), '"')
	}
	x.body = append(x.body, ':')
	h := hashKey(0, name)
	if bit := uint64(1) << (h & 63); lv.names[h>>6&1]&bit == 0 {
		lv.names[h>>6&1] |= bit
	} else {
		for _, o := range x.names[lv.start:] {
			x.dup = x.dup || o == h
		}
	}
	x.names = append(x.names, h)
	lv.n++
	return at
}

// undo takes back the member of the current object begun at at.
func (x *elastic) undo(at int) {
	x.body = x.body[:at]
	lv := &x.levels[len(x.levels)-1]
	lv.n--
	x.names = x.names[:len(x.names)-1]
}

// value writes a member of the current object.
func (x *elastic) value(name []byte, v []byte) {
	x.head(name, false)
	x.body = append(x.body, v...)
}

// valueAt writes a member at a dotted path under the current object
// (objects opened for the dots).
func (x *elastic) valueAt(path []byte, esc bool, v []byte) {
	depth := len(x.levels)
	for {
		i := bytes.IndexByte(path, '.')
		if i < 0 {
			break
		}
		x.open(x.head(path[:i], esc))
		path = path[i+1:]
	}
	x.head(path, esc)
	x.body = append(x.body, v...)
	for len(x.levels) > depth {
		x.close()
	}
}

// keepValue writes a member as its value is, cleaned (see clean); nothing
// when nothing is left of it.
func (x *elastic) keepValue(name []byte, esc bool, v jsonscan.Value) {
	switch v.Kind {
	case jsonscan.Object, jsonscan.Array:
		at := x.head(name, esc)
		var ok bool
		if x.body, ok = appendClean(x.body, v.Raw); !ok {
			x.undo(at)
		}
	default:
		if c := x.clean(v); c != nil {
			x.head(name, esc)
			x.body = append(x.body, c...)
		}
	}
}

// finishBody closes the body and returns it as the cisco_duo slot's
// value, {"<name>":{...}}; nil when it is empty. A body with a name
// written twice in one object is rebuilt through the tree, merged.
func (x *elastic) finishBody(name string) []byte {
	lv := x.levels[0]
	x.levels = x.levels[:0]
	if lv.n == 0 {
		return nil
	}
	x.body = append(x.body, '}', '}')
	members := x.body[bodyPad-1 : len(x.body)-1] // {...}
	if x.dup {
		x.tree.reset()
		var s jsonscan.Scanner
		s.Reset(members)
		x.tree.merge(0, &s)
		start := len(x.buf)
		x.buf = append(x.buf, '{', '"')
		x.buf = append(x.buf, name...)
		x.buf = append(x.buf, '"', ':')
		x.buf = x.tree.appendTo(x.buf)
		x.buf = append(x.buf, '}')
		return x.buf[start:len(x.buf):len(x.buf)]
	}
	head := len(name) + 4 // {"name":
	if head > bodyPad-1 {
		panic("normalize: dataset name longer than bodyPad")
	}
	at := bodyPad - 1 - head
	x.body[at] = '{'
	x.body[at+1] = '"'
	copy(x.body[at+2:], name)
	x.body[at+2+len(name)] = '"'
	x.body[at+3+len(name)] = ':'
	return x.body[at:]
}

// enode is one member of a tree: a JSON value, or an object whose members
// are kids.
type enode struct {
	key    []byte
	val    []byte // nil: an object
	kids   []int32
	parent int32 // -1: detached (its parent became a value)
}

// edoc is a tree of members, in the order first set: the body rebuilt
// with each object's names once.
type edoc struct {
	nodes []enode
	// index finds a node by its parent and key: open addressing, the
	// node's index + 1 (0: empty); its length is a power of two, at least
	// twice the nodes.
	index []int32
}

func (d *edoc) reset() {
	if d.nodes == nil {
		d.nodes = make([]enode, 1, 64)
	}
	for i := range d.nodes {
		d.nodes[i].kids = d.nodes[i].kids[:0]
	}
	d.nodes = d.nodes[:1]
	d.nodes[0] = enode{kids: d.nodes[0].kids[:0], parent: -1}
	if d.index == nil {
		d.index = make([]int32, 256)
	}
	clear(d.index)
}

// hashKey hashes the parent, the key's length and three of its bytes:
// enough to spread a document's few hundred keys (find compares the keys).
func hashKey(parent int32, key []byte) uint32 {
	h := uint32(parent)*0x9E3779B1 ^ uint32(len(key))*0x85EBCA77
	if n := len(key); n > 0 {
		h ^= uint32(key[0]) | uint32(key[n/2])<<8 | uint32(key[n-1])<<16
	}
	h ^= h >> 15
	h *= 0x2C1B3C6D
	return h ^ h>>13
}

// find is the slot of parent's member key in the index: the slot holding
// it, or the empty slot where it goes.
func (d *edoc) find(parent int32, key []byte) int {
	mask := len(d.index) - 1
	for i := int(hashKey(parent, key)) & mask; ; i = (i + 1) & mask {
		n := d.index[i]
		if n == 0 {
			return i
		}
		if nd := &d.nodes[n-1]; nd.parent == parent && string(nd.key) == string(key) {
			return i
		}
	}
}

// child is the index of parent's member key, created (as an object) when
// missing.
func (d *edoc) child(parent int32, key []byte) int32 {
	slot := d.find(parent, key)
	if n := d.index[slot]; n != 0 {
		return n - 1
	}
	i := int32(len(d.nodes))
	if len(d.nodes) < cap(d.nodes) {
		d.nodes = d.nodes[:i+1]
		kids := d.nodes[i].kids[:0]
		d.nodes[i] = enode{key: key, kids: kids, parent: parent}
	} else {
		d.nodes = append(d.nodes, enode{key: key, parent: parent})
	}
	d.nodes[parent].kids = append(d.nodes[parent].kids, i)
	d.index[slot] = i + 1
	if 2*len(d.nodes) > len(d.index) {
		d.reindex(2 * len(d.index))
	}
	return i
}

// reindex rebuilds the index with size slots.
func (d *edoc) reindex(size int) {
	if size > len(d.index) {
		d.index = make([]int32, size)
	} else {
		clear(d.index)
	}
	for i := 1; i < len(d.nodes); i++ {
		if nd := &d.nodes[i]; nd.parent >= 0 {
			d.index[d.find(nd.parent, nd.key)] = int32(i) + 1
		}
	}
}

// setValue makes node at a value; the members it had are detached.
func (d *edoc) setValue(at int32, val []byte) {
	n := &d.nodes[at]
	for _, k := range n.kids {
		d.nodes[k].parent = -1
	}
	if len(n.kids) > 0 {
		n.kids = n.kids[:0]
		d.reindex(len(d.index))
	}
	n.val = val
}

// merge puts the members of the object s is at under node at: a name
// given twice keeps its first place; the last value wins, and objects
// given twice are merged.
func (d *edoc) merge(at int32, s *jsonscan.Scanner) error {
	return s.Members(func(key []byte, esc bool) error {
		k := d.child(at, jsonscan.Key(key, esc))
		if s.Peek() == '{' {
			d.nodes[k].val = nil
			return d.merge(k, s)
		}
		v, err := s.Value()
		d.setValue(k, v.Raw)
		return err
	})
}

// appendTo writes the tree.
func (d *edoc) appendTo(dst []byte) []byte {
	dst, _ = d.appendNode(dst, 0)
	return dst
}

// appendNode writes node i; an object with no value under it is written
// as {} and reported empty, so that its parent leaves it out.
func (d *edoc) appendNode(dst []byte, i int32) ([]byte, bool) {
	n := &d.nodes[i]
	if n.val != nil {
		return append(dst, n.val...), true
	}
	dst = append(dst, '{')
	wrote := false
	for _, k := range n.kids {
		mark := len(dst)
		if wrote {
			dst = append(dst, ',')
		}
		dst = appendQuoted(dst, d.nodes[k].key)
		dst = append(dst, ':')
		var ok bool
		if dst, ok = d.appendNode(dst, k); !ok {
			dst = dst[:mark] // an empty object: left out
			continue
		}
		wrote = true
	}
	return append(dst, '}'), wrote
}
