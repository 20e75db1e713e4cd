// Package geoiptest writes small MaxMind-format databases for tests, with
// the record layout of GeoIP2/GeoLite2 City and ASN databases.
package geoiptest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// City is one network's City record.
type City struct {
	Network                       string // CIDR
	City, Continent, Country, ISO string
	// Subdivisions, least specific first: {iso_code, name} pairs.
	Subdivisions [][2]string
	Lat, Lon     float64
	NoPoint      bool
}

// ASN is one network's ASN record.
type ASN struct {
	Network      string // CIDR
	Number       uint32
	Organization string
}

// Known are the networks the tests use: Elastic's pipeline tests use
// addresses of MaxMind's test databases, and these answer for them alike.
var Known = []City{
	{Network: "89.160.20.112/28", City: "Linköping", Continent: "Europe", Country: "Sweden", ISO: "SE",
		Subdivisions: [][2]string{{"E", "Östergötland County"}}, Lat: 58.4167, Lon: 15.6167},
	{Network: "216.160.83.56/29", City: "Milton", Continent: "North America", Country: "United States", ISO: "US",
		Subdivisions: [][2]string{{"WA", "Washington"}}, Lat: 47.2513, Lon: -122.3149},
	{Network: "2a02:cf40::/29", Continent: "Europe", Country: "Norway", ISO: "NO", Lat: 62, Lon: 10},
}

// KnownASN are the ASN records for the same tests.
var KnownASN = []ASN{
	{Network: "89.160.20.112/28", Number: 29518, Organization: "Bredband2 AB"},
	{Network: "216.160.83.56/29", Number: 209, Organization: "CenturyLink"},
}

// WriteKnown writes a City database of Known and an ASN database of
// KnownASN into dir, and returns their paths (city.mmdb, asn.mmdb).
func WriteKnown(dir string) (city, asn string, err error) {
	city, asn = filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "asn.mmdb")
	if err := WriteCity(city, "GeoLite2-City", Known); err != nil {
		return "", "", err
	}
	if err := WriteASN(asn, "GeoLite2-ASN", KnownASN); err != nil {
		return "", "", err
	}
	return city, asn, nil
}

// WriteCity writes a City database of recs to path (dbType, e.g.
// "GeoLite2-City", is its metadata's database_type).
func WriteCity(path, dbType string, recs []City) error {
	return write(path, dbType, func(w *mmdbwriter.Tree) error {
		for _, c := range recs {
			rec := mmdbtype.Map{
				"continent": mmdbtype.Map{"code": mmdbtype.String("XX"), "names": en(c.Continent)},
				"country":   mmdbtype.Map{"iso_code": mmdbtype.String(c.ISO), "names": en(c.Country)},
			}
			if c.City != "" {
				rec["city"] = mmdbtype.Map{"names": en(c.City)}
			}
			var subs mmdbtype.Slice
			for _, s := range c.Subdivisions {
				subs = append(subs, mmdbtype.Map{"iso_code": mmdbtype.String(s[0]), "names": en(s[1])})
			}
			if subs != nil {
				rec["subdivisions"] = subs
			}
			if !c.NoPoint {
				rec["location"] = mmdbtype.Map{"latitude": mmdbtype.Float64(c.Lat), "longitude": mmdbtype.Float64(c.Lon),
					"time_zone": mmdbtype.String("Europe/Stockholm"), "accuracy_radius": mmdbtype.Uint16(100)}
			}
			if err := insert(w, c.Network, rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// WriteASN writes an ASN database of recs to path.
func WriteASN(path, dbType string, recs []ASN) error {
	return write(path, dbType, func(w *mmdbwriter.Tree) error {
		for _, a := range recs {
			rec := mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(a.Number)}
			if a.Organization != "" {
				rec["autonomous_system_organization"] = mmdbtype.String(a.Organization)
			}
			if err := insert(w, a.Network, rec); err != nil {
				return err
			}
		}
		return nil
	})
}

func en(name string) mmdbtype.Map {
	return mmdbtype.Map{"en": mmdbtype.String(name), "de": mmdbtype.String(name + " (de)")}
}

func insert(w *mmdbwriter.Tree, network string, rec mmdbtype.Map) error {
	_, n, err := net.ParseCIDR(network)
	if err != nil {
		return err
	}
	return w.Insert(n, rec)
}

// write builds the database and writes it beside path, then renames it
// over path: the way geoipupdate replaces a database.
func write(path, dbType string, fill func(*mmdbwriter.Tree) error) error {
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		return err
	}
	if err := fill(w); err != nil {
		return fmt.Errorf("geoiptest: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".mmdb-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := w.WriteTo(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
