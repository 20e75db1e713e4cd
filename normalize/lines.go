package normalize

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// Lines normalizes newline-delimited JSON: one raw record a line in, one
// document a line out, in order. A line that is not a JSON object (or is
// longer than MaxLine) still gives its document, with error.message.
type Lines struct {
	n   *Normalizer
	out io.Writer
	// MaxLine is the longest line read; a longer one is not held in
	// memory, and its document says so (default 16 MiB).
	MaxLine int
	// OnMalformed, when set, is told of each malformed line.
	OnMalformed func(name string, line int, err error)
	// OnUnidentified, when set, is told of each record with no eventtype
	// the mapping knows (see Meta.Unidentified).
	OnUnidentified func(name string, line int)
	// Records, Malformed and Unidentified count the documents written.
	Records, Malformed, Unidentified int
	// PrettyPrinted is set when the input looks like indented JSON (a
	// first line of "{" or "[" alone) rather than one object a line.
	PrettyPrinted bool

	line, doc []byte
}

// NewLines returns a Lines writing the documents of n to out.
func NewLines(n *Normalizer, out io.Writer) *Lines {
	return &Lines{n: n, out: out, MaxLine: 16 << 20}
}

// WriteError is a failure to write a document (not to read the input).
type WriteError struct{ Err error }

func (e *WriteError) Error() string { return e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

// Copy normalizes every non-blank line of r, named name in OnMalformed.
// It returns the input's read error, or a *WriteError.
func (l *Lines) Copy(name string, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for lineNo := 1; ; lineNo++ {
		var err error
		var size int
		l.line, size, err = readLine(br, l.line[:0], l.MaxLine)
		if len(bytes.TrimSpace(l.line)) > 0 {
			if werr := l.write(name, lineNo, size); werr != nil {
				return &WriteError{werr}
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

// write writes the document of the line just read (size: its whole
// length, more than what was kept when it is too long).
func (l *Lines) write(name string, lineNo, size int) error {
	l.Records++
	var recErr error
	if size > len(l.line) {
		recErr = fmt.Errorf("line of %d bytes is longer than the limit of %d bytes: not read", size, l.MaxLine)
		l.doc = l.n.AppendMalformed(l.doc[:0], l.line[:min(len(l.line), 1024)], recErr.Error())
	} else {
		var meta Meta
		l.doc, meta, recErr = l.n.AppendMeta(l.doc[:0], l.line)
		if recErr == nil && meta.Unidentified {
			l.Unidentified++
			if l.OnUnidentified != nil {
				l.OnUnidentified(name, lineNo)
			}
		}
	}
	if t := string(bytes.TrimSpace(l.line)); l.Records == 1 && (t == "{" || t == "[") {
		l.PrettyPrinted = true
	}
	if recErr != nil {
		l.Malformed++
		if l.OnMalformed != nil {
			l.OnMalformed(name, lineNo, recErr)
		}
	}
	l.doc = append(l.doc, '\n')
	_, err := l.out.Write(l.doc)
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
