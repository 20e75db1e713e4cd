package geoip_test

import (
	"net/netip"
	"testing"

	"github.com/duo-connector/duo-connector/normalize/geoip"
)

// BenchmarkLookup: one address looked up in both databases, as the
// elastic mapping does for each device of a record.
func BenchmarkLookup(b *testing.B) {
	city, asn := writeDBs(b)
	db, err := geoip.Open(geoip.Config{CityDB: city, ASNDB: asn})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	addr := netip.MustParseAddr("89.160.20.112")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := db.City(addr); !ok {
			b.Fatal("no location")
		}
		if _, ok := db.ASN(addr); !ok {
			b.Fatal("no network")
		}
	}
}
