package geoip_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/normalize/geoip"
	"github.com/duo-connector/duo-connector/normalize/geoip/geoiptest"
)

func writeDBs(t testing.TB) (city, asn string) {
	t.Helper()
	city, asn, err := geoiptest.WriteKnown(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return city, asn
}

func TestLookup(t *testing.T) {
	city, asn := writeDBs(t)
	db, err := geoip.Open(geoip.Config{CityDB: city, ASNDB: asn})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		addr    string
		loc     geoip.Location
		hasLoc  bool
		network geoip.Network
		hasNet  bool
	}{
		{"89.160.20.112", geoip.Location{CityName: "Linköping", ContinentName: "Europe", CountryISOCode: "SE", CountryName: "Sweden",
			RegionISOCode: "SE-E", RegionName: "Östergötland County", Lat: 58.4167, Lon: 15.6167, HasPoint: true}, true,
			geoip.Network{Number: 29518, Organization: "Bredband2 AB"}, true},
		// An IPv4 address written as IPv6 is the same address.
		{"::ffff:89.160.20.120", geoip.Location{CityName: "Linköping", ContinentName: "Europe", CountryISOCode: "SE", CountryName: "Sweden",
			RegionISOCode: "SE-E", RegionName: "Östergötland County", Lat: 58.4167, Lon: 15.6167, HasPoint: true}, true,
			geoip.Network{Number: 29518, Organization: "Bredband2 AB"}, true},
		{"2a02:cf40::1", geoip.Location{ContinentName: "Europe", CountryISOCode: "NO", CountryName: "Norway", Lat: 62, Lon: 10, HasPoint: true}, true,
			geoip.Network{}, false},
		{"10.1.2.3", geoip.Location{}, false, geoip.Network{}, false},
	} {
		loc, ok := db.City(netip.MustParseAddr(tc.addr))
		if ok != tc.hasLoc || loc != tc.loc {
			t.Errorf("City(%s) = %+v, %v; want %+v, %v", tc.addr, loc, ok, tc.loc, tc.hasLoc)
		}
		n, ok := db.ASN(netip.MustParseAddr(tc.addr))
		if ok != tc.hasNet || n != tc.network {
			t.Errorf("ASN(%s) = %+v, %v; want %+v, %v", tc.addr, n, ok, tc.network, tc.hasNet)
		}
	}
}

func TestNilDBFindsNothing(t *testing.T) {
	var db *geoip.DB
	if _, ok := db.City(netip.MustParseAddr("89.160.20.112")); ok {
		t.Error("a nil DB found a location")
	}
	if err := db.Close(); err != nil {
		t.Error(err)
	}
}

func TestOpenErrorsNameTheKey(t *testing.T) {
	city, asn := writeDBs(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.mmdb")
	os.WriteFile(garbage, []byte("this is not a database"), 0o644)
	for _, tc := range []struct {
		name string
		cfg  geoip.Config
		want []string
	}{
		{"missing", geoip.Config{CityDB: filepath.Join(dir, "nope.mmdb")}, []string{"city_db: ", "nope.mmdb", "no such file"}},
		{"corrupt", geoip.Config{ASNDB: garbage}, []string{"asn_db: ", "not a MaxMind database"}},
		{"ASN as city", geoip.Config{CityDB: asn}, []string{"city_db: ", "ASN database (GeoLite2-ASN): name it in asn_db"}},
		{"city as ASN", geoip.Config{ASNDB: city}, []string{"asn_db: ", "location database (GeoLite2-City): name it in city_db"}},
		{"both wrong", geoip.Config{CityDB: asn, ASNDB: city}, []string{"city_db: ", "asn_db: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := geoip.Open(tc.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			var fe *geoip.FileError
			if !errors.As(err, &fe) {
				t.Errorf("%v is not a *FileError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if err := geoip.Check(tc.cfg); err == nil {
				t.Error("Check: no error")
			}
		})
	}
}

// A database replaced the way geoipupdate replaces it is used from the
// next check on; lookups made during the swap all get an answer, from the
// old database or the new.
func TestReloadReplacedFile(t *testing.T) {
	city, asn := writeDBs(t)
	var logs syncBuffer
	db, err := geoip.Open(geoip.Config{CityDB: city, ASNDB: asn, CheckEvery: 1 << 62,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	addr := netip.MustParseAddr("89.160.20.112")

	var wg sync.WaitGroup
	var stop atomic.Bool
	var misses atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, ok := db.City(addr); !ok {
					misses.Add(1)
				}
			}
		}()
	}
	moved := []geoiptest.City{{Network: "89.160.20.112/28", City: "Stockholm", Continent: "Europe", Country: "Sweden", ISO: "SE", Lat: 59.3, Lon: 18.1}}
	for i := range 5 {
		recs := geoiptest.Known
		if i%2 == 0 {
			recs = moved
		}
		if err := geoiptest.WriteCity(city, "GeoLite2-City", recs); err != nil {
			t.Fatal(err)
		}
		db.Reload()
	}
	stop.Store(true)
	wg.Wait()
	if n := misses.Load(); n > 0 {
		t.Errorf("%d lookups found nothing during the reloads", n)
	}
	if loc, _ := db.City(addr); loc.CityName != "Stockholm" {
		t.Errorf("after the last replacement: city %q, want Stockholm", loc.CityName)
	}
	if n := strings.Count(logs.String(), "GeoIP database reloaded"); n != 5 {
		t.Errorf("%d reloads logged, want 5:\n%s", n, logs.String())
	}
	// Unchanged: not reopened.
	db.Reload()
	if n := strings.Count(logs.String(), "GeoIP database reloaded"); n != 5 {
		t.Errorf("an unchanged file was reloaded:\n%s", logs.String())
	}
}

// A replacement that cannot be read (or a file removed) leaves the
// database in use, and is reported once, not at every check.
func TestReloadKeepsTheOldDatabase(t *testing.T) {
	city, _ := writeDBs(t)
	var logs syncBuffer
	db, err := geoip.Open(geoip.Config{CityDB: city, CheckEvery: 1 << 62, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	addr := netip.MustParseAddr("89.160.20.112")

	tmp := city + ".new"
	os.WriteFile(tmp, []byte("truncated download"), 0o644)
	os.Rename(tmp, city)
	db.Reload()
	db.Reload()
	if loc, ok := db.City(addr); !ok || loc.CityName != "Linköping" {
		t.Errorf("after a corrupt replacement: %+v, %v; want the old database's answer", loc, ok)
	}
	os.Remove(city)
	db.Reload()
	db.Reload()
	if _, ok := db.City(addr); !ok {
		t.Error("after the file was removed: no answer; want the old database's")
	}
	if n := strings.Count(logs.String(), "not reloaded"); n != 2 {
		t.Errorf("%d refusals logged, want 2 (one per bad state):\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "not a MaxMind database") {
		t.Errorf("the refusal does not say why:\n%s", logs.String())
	}
	// A good database again is taken.
	if err := geoiptest.WriteCity(city, "GeoLite2-City", geoiptest.Known[:1]); err != nil {
		t.Fatal(err)
	}
	db.Reload()
	if _, ok := db.City(netip.MustParseAddr("216.160.83.57")); ok {
		t.Error("the good replacement was not taken")
	}
}

// The watcher reloads by itself.
func TestWatch(t *testing.T) {
	city, _ := writeDBs(t)
	var logs syncBuffer
	db, err := geoip.Open(geoip.Config{CityDB: city, CheckEvery: 5 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := geoiptest.WriteCity(city, "GeoLite2-City", geoiptest.Known[1:]); err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr("89.160.20.112")
	for {
		if _, ok := db.City(addr); !ok {
			break // the new database has no such network
		}
		time.Sleep(time.Millisecond) // until the test's deadline at most
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAnswersBounded: past its bound the answer cache starts over, and
// answers stay right.
func TestAnswersBounded(t *testing.T) {
	city, asn := writeDBs(t)
	db, err := geoip.Open(geoip.Config{CityDB: city, ASNDB: asn})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	known := netip.MustParseAddr("89.160.20.112")
	for i := range 20000 {
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if _, ok := db.City(addr); ok {
			t.Fatalf("%s found", addr)
		}
		if i%5000 == 0 {
			if loc, ok := db.City(known); !ok || loc.CityName != "Linköping" {
				t.Fatalf("after %d other addresses: %+v, %v", i, loc, ok)
			}
			if n, ok := db.ASN(known); !ok || n.Number != 29518 {
				t.Fatalf("after %d other addresses: %+v, %v", i, n, ok)
			}
		}
	}
}
