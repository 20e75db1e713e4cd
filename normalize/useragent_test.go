package normalize

import (
	"fmt"
	"testing"

	"github.com/ua-parser/uap-go/uaparser"
)

var uaSamples = []string{
	"DuoCredProv/4.0.6.413 (Windows NT 6.3.9600; x64; Server)",
	"DuoCredProv/4.2.2.1755 (Windows NT 10.0.17763; x64; Server)",
	"Duo Mobile/4.33.0 (iPhone; iOS 16.1.1; Scale/3.00)",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"curl/8.4.0",
	"python-requests/2.31.0",
	"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)",
	"Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)",
	"Opera/9.80 (Windows NT 6.1; U; en) Presto/2.10.229 Version/11.62",
	"Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
	"Dalvik/2.1.0 (Linux; U; Android 9; Pixel 3 Build/PQ3A.190801.002)",
	"Mozilla/5.0 (PlayStation 4 5.55) AppleWebKit/601.2 (KHTML, like Gecko)",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/74.0.3729.169 Safari/537.36 Edge/44.18363.8131",
	"MOZILLA/5.0 (WINDOWS NT 10.0; WIN64; X64) CHROME/120.0",
	"Mozilla/5.0 (Linux; Android 13; \u212a) AppleWebKit/537.36 Chrome/116.0 Mobile Safari/537.36", // Kelvin sign
	"Mozilla/5.0 (\u017fymbian) ſafari",
	"",
	"Other",
}

// uaAll parses with uap-go's full rules, as the normalizer once did.
func uaAll(tb testing.TB) func(string) [3]string {
	p, err := uaparser.New(uaparser.WithCacheSize(1))
	if err != nil {
		tb.Fatal(err)
	}
	return func(ua string) [3]string {
		return [3]string{p.ParseUserAgent(ua).ToString(), p.ParseOs(ua).ToString(), p.ParseDevice(ua).ToString() + "|" + p.ParseDevice(ua).Brand + "|" + p.ParseDevice(ua).Model}
	}
}

func uaFiltered(r *uaRules) func(string) [3]string {
	return func(ua string) [3]string {
		p := r.parserFor(ua)
		return [3]string{p.ParseUserAgent(ua).ToString(), p.ParseOs(ua).ToString(), p.ParseDevice(ua).ToString() + "|" + p.ParseDevice(ua).Brand + "|" + p.ParseDevice(ua).Model}
	}
}

// TestUARulesFilterIsExact: parsing with only the rules a user agent could
// match answers exactly as uap-go's full rules do.
func TestUARulesFilterIsExact(t *testing.T) {
	all, filtered := uaAll(t), uaFiltered(loadUARules())
	for _, ua := range uaSamples {
		if got, want := filtered(ua), all(ua); got != want {
			t.Errorf("%q: filtered %q, full %q", ua, got, want)
		}
	}
}

func FuzzUARulesFilter(f *testing.F) {
	for _, ua := range uaSamples {
		f.Add(ua)
	}
	all, rules := uaAll(f), loadUARules()
	filtered := uaFiltered(rules)
	f.Fuzz(func(t *testing.T, ua string) {
		if got, want := filtered(ua), all(ua); got != want {
			t.Fatalf("%q: filtered %q, full %q", ua, got, want)
		}
	})
}

// TestUAParserReused: user agents that differ in versions (DuoCredProv
// releases on three Windows builds) end up sharing one compiled parser,
// which keeps answering as the full rules do, for them and for a browser.
func TestUAParserReused(t *testing.T) {
	r := loadUARules()
	var uas []string
	for _, v := range []string{"4.0.6.413", "4.1.0.234", "4.2.1.550", "4.2.2.901", "4.3.0.120"} {
		for _, b := range []string{"6.3.9600; x64; Server", "10.0.19045; x64; Workstation", "10.0.22631; x64; Workstation"} {
			uas = append(uas, fmt.Sprintf("DuoCredProv/%s (Windows NT %s)", v, b))
		}
	}
	compiled := map[*uaparser.Parser]bool{}
	for _, ua := range uas {
		compiled[r.parserFor(ua)] = true
	}
	last := r.parserFor(uas[0])
	for _, ua := range uas {
		if r.parserFor(ua) != last {
			t.Fatalf("%q: a new parser after all %d were seen (%d compiled)", ua, len(uas), len(compiled))
		}
	}
	t.Logf("%d parsers compiled for %d user agents", len(compiled), len(uas))
	all, filtered := uaAll(t), uaFiltered(r)
	chrome := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	for _, ua := range append(uas, chrome, uas[3]) {
		if got, want := filtered(ua), all(ua); got != want {
			t.Errorf("%q: filtered %q, full %q", ua, got, want)
		}
	}
}
