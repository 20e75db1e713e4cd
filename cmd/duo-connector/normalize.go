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

	c := &normalizeRun{n: n, out: bufio.NewWriterSize(stdout, 64<<10), stderr: stderr, maxLine: *maxLine}
	for _, in := range inputs {
		if err := c.stream(in.name, in.r); err != nil {
			c.out.Flush()
			var we *writeError
			if errors.As(err, &we) {
				fmt.Fprintf(stderr, "duo-connector normalize: write output: %v\n", we.err)
				return exitFailure
			}
			fmt.Fprintf(stderr, "duo-connector normalize: read %s: %v\n", in.name, err)
			return exitUsage
		}
	}
	if err := c.out.Flush(); err != nil {
		fmt.Fprintf(stderr, "duo-connector normalize: write output: %v\n", err)
		return exitFailure
	}
	if c.malformed > maxReportedErrors {
		fmt.Fprintf(stderr, "... and %d more malformed lines\n", c.malformed-maxReportedErrors)
	}
	fmt.Fprintf(stderr, "normalized %d records (mapping %s), %d malformed\n", c.records, m, c.malformed)
	if c.malformed > 0 {
		return exitFailure
	}
	return exitOK
}

// normalizeRun is the state of one normalize command: where documents go,
// the counts, and the buffers reused from line to line.
type normalizeRun struct {
	n                  *normalize.Normalizer
	out                *bufio.Writer
	stderr             io.Writer
	maxLine            int
	records, malformed int
	line, doc          []byte
}

// writeError is a failure to write the output (not to read the input).
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

// stream normalizes every line of r, one document per non-blank line.
func (c *normalizeRun) stream(name string, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for lineNo := 1; ; lineNo++ {
		var err error
		var size int
		c.line, size, err = readLine(br, c.line[:0], c.maxLine)
		if len(c.line) > 0 && len(bytes.TrimSpace(c.line)) > 0 {
			if werr := c.normalizeLine(name, lineNo, size); werr != nil {
				return &writeError{werr}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// normalizeLine writes the document of the line just read (size: its whole
// length, more than what was kept when it is too long).
func (c *normalizeRun) normalizeLine(name string, lineNo, size int) error {
	c.records++
	var recErr error
	if size > len(c.line) {
		recErr = fmt.Errorf("line of %d bytes is longer than --max-line-bytes (%d): not read", size, c.maxLine)
		c.doc = c.n.AppendMalformed(c.doc[:0], c.line[:min(len(c.line), 1024)], recErr.Error())
	} else {
		c.doc, recErr = c.n.Append(c.doc[:0], c.line)
	}
	if recErr != nil {
		c.malformed++
		if c.malformed <= maxReportedErrors {
			fmt.Fprintf(c.stderr, "%s:%d: %v\n", name, lineNo, recErr)
		}
	}
	c.doc = append(c.doc, '\n')
	_, err := c.out.Write(c.doc)
	return err
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
