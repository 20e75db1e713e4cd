package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/duo-connector/duo-connector/normalize"
	"github.com/duo-connector/duo-connector/normalize/geoip"
)

// maxReportedErrors caps the per-line error messages on stderr; the summary
// still counts every malformed line.
const maxReportedErrors = 20

func runNormalize(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("normalize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mapping := fs.String("mapping", "v1", "mapping: v1, v2 or elastic")
	cityDB := fs.String("geoip-city-db", "", "MaxMind-format City `database` (elastic mapping: source.geo)")
	asnDB := fs.String("geoip-asn-db", "", "MaxMind-format ASN `database` (elastic mapping: source.as)")
	maxLine := fs.Int("max-line-bytes", 16<<20, "longest line read; a longer one is reported malformed without being read whole")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: duo-connector normalize [--mapping v1|v2|elastic] [--geoip-city-db FILE]
                              [--geoip-asn-db FILE] [FILE...]

Reads raw Duo log records, one JSON object per line, from the files (or
stdin when none, or "-") and writes one ECS JSON document per non-blank
input line to stdout, in input order. A summary goes to stderr.

Exit status: 0 every line normalized; 1 some line was not a JSON object (its
document, with error.message, is still written); 2 usage error.

Flags:
`)
		fs.PrintDefaults()
	}
	// Flags may come after the file names too.
	given := args
	var names []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitOK
			}
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if name := repeated(fs, given); name != "" {
		fmt.Fprintf(stderr, "duo-connector normalize: --%s is given twice: give it once\n", name)
		return exitUsage
	}
	if *maxLine < 1 {
		fmt.Fprintln(stderr, "duo-connector normalize: --max-line-bytes must be at least 1")
		return exitUsage
	}
	m, err := normalize.ParseMapping(*mapping)
	if err != nil {
		fmt.Fprintf(stderr, "duo-connector normalize: --mapping: %v\n", err)
		return exitUsage
	}
	n, err := normalize.New(normalize.Options{Mapping: m, GeoIP: geoip.Config{CityDB: *cityDB, ASNDB: *asnDB}})
	if err != nil {
		var fe *geoip.FileError
		if errors.As(err, &fe) { // name the flag, not the configuration key
			err = fmt.Errorf("--geoip-%s: %s: %w", strings.ReplaceAll(fe.Key, "_", "-"), fe.Path, fe.Err)
		}
		fmt.Fprintf(stderr, "duo-connector normalize: %v\n", err)
		return exitUsage
	}
	defer n.Close()

	// Open every file first, so a typo fails before any output.
	type input struct {
		name string
		r    io.Reader
	}
	var inputs []input
	if len(names) == 0 {
		names = []string{"-"}
	}
	for _, name := range names {
		if name == "-" {
			inputs = append(inputs, input{"stdin", stdin})
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "duo-connector normalize: cannot read input: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		inputs = append(inputs, input{name, f})
	}

	bw := bufio.NewWriterSize(stdout, 64<<10)
	lines := normalize.NewLines(n, bw)
	lines.MaxLine = *maxLine
	lines.OnMalformed = func(name string, line int, err error) {
		if lines.Malformed <= maxReportedErrors {
			fmt.Fprintf(stderr, "%s:%d: %v\n", name, line, err)
		}
	}
	lines.OnUnidentified = func(name string, line int) {
		if lines.Unidentified <= maxReportedErrors {
			fmt.Fprintf(stderr, "%s:%d: no eventtype the mapping knows\n", name, line)
		}
	}
	for _, in := range inputs {
		if err := lines.Copy(in.name, in.r); err != nil {
			bw.Flush()
			var we *normalize.WriteError
			if errors.As(err, &we) {
				fmt.Fprintf(stderr, "duo-connector normalize: write output: %v\n", we.Err)
				return exitFailure
			}
			fmt.Fprintf(stderr, "duo-connector normalize: read %s: %v\n", in.name, err)
			return exitUsage
		}
	}
	if err := bw.Flush(); err != nil {
		fmt.Fprintf(stderr, "duo-connector normalize: write output: %v\n", err)
		return exitFailure
	}
	if lines.Malformed > maxReportedErrors {
		fmt.Fprintf(stderr, "... and %d more malformed lines\n", lines.Malformed-maxReportedErrors)
	}
	if lines.PrettyPrinted {
		fmt.Fprintln(stderr, "the input looks like indented JSON: normalize reads one JSON object per line (NDJSON); convert it first, e.g. jq -c . FILE")
	}
	if lines.Unidentified > 0 {
		fmt.Fprintf(stderr, "warning: %d records have no eventtype the mapping knows (auth_log, admin_log, offline_log, telephony_log, activity_log, trust_monitor_event): their documents hold little more than the record; add the eventtype, as the connector does\n", lines.Unidentified)
	}
	fmt.Fprintf(stderr, "normalized %d records (mapping %s), %d malformed, %d unidentified\n", lines.Records, m, lines.Malformed, lines.Unidentified)
	if lines.Malformed > 0 {
		return exitFailure
	}
	return exitOK
}
