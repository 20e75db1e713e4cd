// Package geoip finds where an IP address is and which network announces
// it, in MaxMind-format databases (GeoIP2 or GeoLite2 City and ASN, or any
// database with their record layout), and reports it with the fields
// Elasticsearch's geoip processor writes by default.
//
// A database is memory-mapped once and reopened when its file is replaced
// (geoipupdate writes a new file and renames it over the old one): lookups
// go on during the swap, and a replacement that cannot be read leaves the
// old database in use.
package geoip

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Config names the databases. Either may be empty.
type Config struct {
	// CityDB is a City database (GeoIP2-City, GeoLite2-City, or one with
	// their layout).
	CityDB string `yaml:"city_db"`
	// ASNDB is an ASN database (GeoLite2-ASN, GeoIP2-ISP, or one with
	// their layout).
	ASNDB string `yaml:"asn_db"`
	// CheckEvery is how often the files are checked for a replacement
	// (default one minute).
	CheckEvery time.Duration `yaml:"-"`
	// Logger reports a replacement taken or refused (default: discard).
	Logger *slog.Logger `yaml:"-"`
}

// Enabled reports whether any database is named.
func (c Config) Enabled() bool { return c.CityDB != "" || c.ASNDB != "" }

// Location is a City database's answer for an address, in English.
type Location struct {
	CityName       string
	ContinentName  string
	CountryISOCode string
	CountryName    string
	// RegionISOCode is the country's code and the most specific
	// subdivision's, joined by "-" ("SE-E").
	RegionISOCode string
	RegionName    string
	// Lat and Lon are meaningful when HasPoint.
	Lat, Lon float64
	HasPoint bool
}

// Network is an ASN database's answer for an address.
type Network struct {
	Number       uint32
	Organization string
}

// DB looks addresses up. It is safe for concurrent use.
type DB struct {
	city, asn *file
	// Answers are kept per address: a few gateways and VPNs make most
	// of an account's logins, and a lookup decodes a record (~0.7 µs).
	cities    answers[Location]
	networks  answers[Network]
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// maxAnswers bounds each answer cache; past it, the cache starts over.
const maxAnswers = 8192

// answers caches one database's answers for the generation of the
// database they were read from (a reload makes them stale).
type answers[T comparable] struct {
	mu  sync.Mutex
	gen uint64
	m   map[netip.Addr]T
}

// get is the cached answer for addr from database generation gen.
func (a *answers[T]) get(addr netip.Addr, gen uint64) (T, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, ok := a.m[addr]
	if a.gen != gen {
		var zero T
		return zero, false
	}
	return v, ok
}

func (a *answers[T]) put(addr netip.Addr, gen uint64, v T) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen != gen || len(a.m) >= maxAnswers || a.m == nil {
		a.gen, a.m = gen, make(map[netip.Addr]T)
	}
	a.m[addr] = v
}

// FileError is a database that cannot be used; Key is its configuration
// key (city_db or asn_db).
type FileError struct {
	Key, Path string
	Err       error
}

func (e *FileError) Error() string { return fmt.Sprintf("%s: %s: %v", e.Key, e.Path, e.Err) }
func (e *FileError) Unwrap() error { return e.Err }

// Open opens the databases cfg names and starts watching their files.
func Open(cfg Config) (*DB, error) {
	if cfg.CheckEvery <= 0 {
		cfg.CheckEvery = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	db := &DB{stop: make(chan struct{}), done: make(chan struct{})}
	var errs []error
	if cfg.CityDB != "" {
		f, err := openFile("city_db", cfg.CityDB, kindCity, cfg.Logger)
		errs = append(errs, err)
		db.city = f
	}
	if cfg.ASNDB != "" {
		f, err := openFile("asn_db", cfg.ASNDB, kindASN, cfg.Logger)
		errs = append(errs, err)
		db.asn = f
	}
	if err := errors.Join(errs...); err != nil {
		db.closeFiles()
		return nil, err
	}
	go db.watch(cfg.CheckEvery)
	return db, nil
}

// Check reports whether the databases cfg names can be used, without
// keeping them open.
func Check(cfg Config) error {
	cfg.CheckEvery = time.Hour
	db, err := Open(cfg)
	if err != nil {
		return err
	}
	return db.Close()
}

// City is the location of addr; false when the City database has none
// (or none is configured).
func (db *DB) City(addr netip.Addr) (Location, bool) {
	if db == nil || db.city == nil {
		return Location{}, false
	}
	gen := db.city.gen.Load()
	if loc, ok := db.cities.get(addr, gen); ok {
		return loc, loc != Location{}
	}
	loc := db.lookupCity(addr)
	db.cities.put(addr, gen, loc)
	return loc, loc != Location{}
}

func (db *DB) lookupCity(addr netip.Addr) Location {
	var rec cityRecord
	if !db.city.lookup(addr, &rec) {
		return Location{}
	}
	loc := Location{
		CityName:       rec.City.Names.En,
		ContinentName:  rec.Continent.Names.En,
		CountryISOCode: rec.Country.ISOCode,
		CountryName:    rec.Country.Names.En,
	}
	if n := len(rec.Subdivisions); n > 0 {
		sub := rec.Subdivisions[n-1]
		loc.RegionName = sub.Names.En
		if sub.ISOCode != "" && rec.Country.ISOCode != "" {
			loc.RegionISOCode = rec.Country.ISOCode + "-" + sub.ISOCode
		}
	}
	if rec.Location.Latitude != nil && rec.Location.Longitude != nil {
		loc.Lat, loc.Lon, loc.HasPoint = *rec.Location.Latitude, *rec.Location.Longitude, true
	}
	return loc
}

// ASN is the network that announces addr; false when the ASN database has
// none (or none is configured).
func (db *DB) ASN(addr netip.Addr) (Network, bool) {
	if db == nil || db.asn == nil {
		return Network{}, false
	}
	gen := db.asn.gen.Load()
	if n, ok := db.networks.get(addr, gen); ok {
		return n, n != Network{}
	}
	var rec asnRecord
	db.asn.lookup(addr, &rec) // not found: the zero Network
	n := Network(rec)
	db.networks.put(addr, gen, n)
	return n, n != Network{}
}

// Close stops watching the files and unmaps the databases.
func (db *DB) Close() error {
	if db == nil {
		return nil
	}
	db.closeOnce.Do(func() {
		close(db.stop)
		<-db.done
		db.closeFiles()
	})
	return nil
}

func (db *DB) closeFiles() {
	for _, f := range []*file{db.city, db.asn} {
		if f != nil {
			f.close()
		}
	}
}

func (db *DB) watch(every time.Duration) {
	defer close(db.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
			db.Reload()
		}
	}
}

// Reload reopens each database whose file was replaced or changed since
// it was opened. A replacement that cannot be read is logged once and the
// database in use is kept.
func (db *DB) Reload() {
	for _, f := range []*file{db.city, db.asn} {
		if f != nil {
			f.reload()
		}
	}
}

type names struct {
	En string `maxminddb:"en"`
}

type cityRecord struct {
	City struct {
		Names names `maxminddb:"names"`
	} `maxminddb:"city"`
	Continent struct {
		Names names `maxminddb:"names"`
	} `maxminddb:"continent"`
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
		Names   names  `maxminddb:"names"`
	} `maxminddb:"country"`
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
		Names   names  `maxminddb:"names"`
	} `maxminddb:"subdivisions"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

type asnRecord struct {
	Number       uint32 `maxminddb:"autonomous_system_number"`
	Organization string `maxminddb:"autonomous_system_organization"`
}

type kind int

const (
	kindCity kind = iota
	kindASN
)

// file is one database and the file it was read from.
type file struct {
	key, path string
	kind      kind
	logger    *slog.Logger

	// mu guards r: a lookup holds it shared while it reads the mapped
	// memory, so a replaced database is unmapped only when no lookup
	// uses it.
	mu   sync.RWMutex
	r    *maxminddb.Reader
	info fs.FileInfo
	// gen counts the databases read from the file: a reload makes the
	// answers cached of the previous one stale.
	gen atomic.Uint64
	// reloading serializes reloads; refused is the replacement last
	// refused, so that it is reported once.
	reloading sync.Mutex
	refused   fs.FileInfo
}

func openFile(key, path string, k kind, logger *slog.Logger) (*file, error) {
	f := &file{key: key, path: path, kind: k, logger: logger}
	r, info, err := f.open()
	if err != nil {
		return nil, &FileError{Key: key, Path: path, Err: err}
	}
	f.r, f.info = r, info
	return f, nil
}

// open maps the file and checks that it is a database of f's kind.
func (f *file) open() (*maxminddb.Reader, fs.FileInfo, error) {
	info, err := os.Stat(f.path)
	if err != nil {
		return nil, nil, err
	}
	r, err := maxminddb.Open(f.path)
	if err != nil {
		return nil, info, fmt.Errorf("not a MaxMind database: %w", err)
	}
	if err := f.kind.check(r.Metadata.DatabaseType); err != nil {
		r.Close()
		return nil, info, err
	}
	return r, info, nil
}

// check refuses the other kind's database: a likely mix-up of the keys.
func (k kind) check(dbType string) error {
	t := strings.ToLower(dbType)
	switch {
	case k == kindCity && (strings.Contains(t, "asn") || strings.Contains(t, "isp")):
		return fmt.Errorf("it is an ASN database (%s): name it in asn_db", dbType)
	case k == kindASN && (strings.Contains(t, "city") || strings.Contains(t, "country")):
		return fmt.Errorf("it is a location database (%s): name it in city_db", dbType)
	}
	return nil
}

func (f *file) lookup(addr netip.Addr, v any) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.r == nil { // closed
		return false
	}
	res := f.r.Lookup(addr.Unmap())
	if !res.Found() {
		return false
	}
	// Decoding copies what it keeps: nothing points into the mapping
	// once the lock is released.
	return res.Decode(v) == nil
}

func (f *file) reload() {
	f.reloading.Lock()
	defer f.reloading.Unlock()
	info, err := os.Stat(f.path)
	if err != nil {
		f.refuse(info, err)
		return
	}
	f.mu.RLock()
	same := sameFile(f.info, info)
	f.mu.RUnlock()
	if same || sameFile(f.refused, info) {
		return
	}
	r, info, err := f.open()
	if err != nil {
		f.refuse(info, err)
		return
	}
	f.mu.Lock()
	old := f.r
	f.r, f.info, f.refused = r, info, nil
	f.gen.Add(1)
	f.mu.Unlock()
	old.Close()
	f.logger.Info("GeoIP database reloaded", "key", f.key, "path", f.path, "type", r.Metadata.DatabaseType,
		"built", r.Metadata.BuildTime().UTC().Format(time.RFC3339))
}

func (f *file) refuse(info fs.FileInfo, err error) {
	if info == nil {
		info = missing{}
	}
	if sameFile(f.refused, info) {
		return
	}
	f.refused = info
	f.logger.Warn("GeoIP database not reloaded: the one in use is kept", "key", f.key, "path", f.path, "error", err)
}

func (f *file) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.r != nil {
		f.r.Close()
		f.r = nil
	}
}

// sameFile: the same file, unchanged (a replacement is a new inode; an
// in-place rewrite changes the size or the modification time).
func sameFile(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return false
	}
	if _, ok := a.(missing); ok {
		_, ok := b.(missing)
		return ok
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// missing stands for a file that is not there.
type missing struct{ fs.FileInfo }

func (missing) Name() string { return "" }
