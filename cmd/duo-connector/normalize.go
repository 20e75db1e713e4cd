package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/duo-connector/duo-connector/normalize"
)

// maxReportedErrors caps the per-line error messages on stderr; the summary
// still counts every malformed line.
const maxReportedErrors = 20

func runNormalize(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("normalize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mapping := fs.String("mapping", "v1", "mapping revision: v1 or v2")
	maxLine := fs.Int("max-line-bytes", 16<<20, "longest line read; a longer one is reported malformed without being read whole")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: duo-connector normalize [--mapping v1|v2] [FILE...]

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
	if *maxLine < 1 {
		fmt.Fprintln(stderr, "duo-connector normalize: --max-line-bytes must be at least 1")
		return exitUsage
	}
	m, err := normalize.ParseMapping(*mapping)
	if err != nil {
		fmt.Fprintf(stderr, "duo-connector normalize: --mapping: %v\n", err)
		return exitUsage
	}
	n, err := normalize.New(normalize.Options{Mapping: m})
	if err != nil {
		fmt.Fprintf(stderr, "duo-connector normalize: %v\n", err)
		return exitUsage
	}

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

	out := bufio.NewWriterSize(stdout, 64<<10)
	var records, malformed int
	var line, doc []byte
	for _, in := range inputs {
		r := bufio.NewReaderSize(in.r, 64<<10)
		for lineNo := 1; ; lineNo++ {
			var err error
			var size int
			line, size, err = readLine(r, line[:0], *maxLine)
			if len(line) > 0 && len(bytes.TrimSpace(line)) > 0 {
				records++
				var recErr error
				if size > len(line) {
					recErr = fmt.Errorf("line of %d bytes is longer than --max-line-bytes (%d): not read", size, *maxLine)
					doc = n.AppendMalformed(doc[:0], line[:min(len(line), 1024)], recErr.Error())
				} else {
					doc, recErr = n.Append(doc[:0], line)
				}
				if recErr != nil {
					malformed++
					if malformed <= maxReportedErrors {
						fmt.Fprintf(stderr, "%s:%d: %v\n", in.name, lineNo, recErr)
					}
				}
				doc = append(doc, '\n')
				if _, werr := out.Write(doc); werr != nil {
					fmt.Fprintf(stderr, "duo-connector normalize: write output: %v\n", werr)
					return exitFailure
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				out.Flush()
				fmt.Fprintf(stderr, "duo-connector normalize: read %s: %v\n", in.name, err)
				return exitUsage
			}
		}
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "duo-connector normalize: write output: %v\n", err)
		return exitFailure
	}
	if malformed > maxReportedErrors {
		fmt.Fprintf(stderr, "... and %d more malformed lines\n", malformed-maxReportedErrors)
	}
	fmt.Fprintf(stderr, "normalized %d records (mapping %s), %d malformed\n", records, m, malformed)
	if malformed > 0 {
		return exitFailure
	}
	return exitOK
}

// readLine appends the next line of r, without its "\n" or "\r\n", to buf,
// keeping at most max bytes of it: size is the line's whole length, so a
// size over len(line) means the rest was skipped, not held in memory. It
// returns io.EOF with the last line when the input ends.
func readLine(r *bufio.Reader, buf []byte, max int) (line []byte, size int, err error) {
	start := len(buf)
	for {
		chunk, err := r.ReadSlice('\n')
		size += len(chunk)
		if room := max + 2 - (len(buf) - start); room > 0 { // 2: room for "\r\n"
			buf = append(buf, chunk[:min(len(chunk), room)]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
			size--
			if n := len(buf); n > start && buf[n-1] == '\n' {
				buf = buf[:n-1]
			}
			if n := len(buf); n > start && buf[n-1] == '\r' && n-start == size {
				buf, size = buf[:n-1], size-1
			}
		}
		if len(buf)-start > max {
			buf = buf[:start+max]
		}
		return buf, size, err
	}
}
