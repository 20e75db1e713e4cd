// Package checkpoint persists the connector's cursors: one document per
// (Duo account, log type, scope), written atomically, in a state directory
// that one process at a time may use.
package checkpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/duo-connector/duo-connector/connector/fault"
)

// Version is the cursor document format this package writes and reads.
const Version = 1

// Key names one cursor.
type Key struct {
	// Account identifies the Duo account: its API host, plus the MSP
	// child account id when there is one.
	Account string
	// Log is the log type (auth, admin, offline, telephony, activity,
	// trust_monitor).
	Log string
	// Scope separates cursors of independent runs: "" for the daemon, a
	// backfill's own name for each backfill.
	Scope string
}

func (k Key) String() string {
	s := k.Account + "/" + k.Log
	if k.Scope != "" {
		s = k.Scope + ":" + s
	}
	return s
}

// Entry is a stored cursor.
type Entry struct {
	Key     Key
	Cursor  json.RawMessage
	Updated time.Time
	Path    string
}

// Store loads and saves cursors.
type Store interface {
	// Load returns the cursor saved under key; ok is false when there is
	// none. A cursor that exists but cannot be read is an error, never
	// "none": restarting from scratch would re-ingest months of logs.
	Load(ctx context.Context, key Key) (cursor json.RawMessage, ok bool, err error)
	// Save replaces the cursor under key, atomically and durably.
	Save(ctx context.Context, key Key, cursor json.RawMessage) error
}

// Document is a cursor as stored: the file store's file, the Kafka store's
// record value.
type Document struct {
	Version int             `json:"version"`
	Account string          `json:"account"`
	Log     string          `json:"log"`
	Scope   string          `json:"scope,omitempty"`
	Updated time.Time       `json:"updated"`
	Cursor  json.RawMessage `json:"cursor"`
}

// CorruptError reports a cursor file that exists but cannot be used.
type CorruptError struct {
	Path   string
	Key    Key
	Reason error
}

func (e *CorruptError) Error() string {
	what := "cursor file " + e.Path
	if e.Path == "" {
		what = "cursor " + e.Key.String()
	}
	return fmt.Sprintf("%s is unreadable (%v); the connector will not guess where to resume. "+
		"Inspect it, restore it from a backup, or reset it with: %s",
		what, e.Reason, e.Key.ResetCommand())
}

// Fault is Fatal: the connector will not guess where to resume.
func (e *CorruptError) Fault() fault.Kind { return fault.Fatal }

// ResetCommand is the command that deletes exactly this cursor (a
// backfill's cursor, not the daemon's of the same log, and the other way
// round).
func (k Key) ResetCommand() string {
	// --account is needed only with several accounts, and harmless with one.
	account := ""
	if k.Account != "" {
		account = " --account " + k.Account
	}
	switch {
	case k.Scope != "" && k.Log == "":
		return "duo-connector checkpoint reset --backfill " + k.Scope + " --yes --config <file>"
	case k.Scope != "":
		return "duo-connector checkpoint reset --backfill " + k.Scope + " --logs " + k.Log + " --yes" + account + " --config <file>"
	}
	return "duo-connector checkpoint reset --logs " + k.Log + " --yes" + account + " --config <file>"
}

func (e *CorruptError) Unwrap() error { return e.Reason }

// FileStore keeps each cursor in its own JSON file under a directory.
type FileStore struct {
	dir      string
	lock     *os.File
	readOnly bool // OpenReadOnly: no lock, no writes
	now      func() time.Time
	// syncDir makes a directory's entries durable (tests watch it).
	syncDir func(dir string) error
}

var _ Store = (*FileStore)(nil)

// LockedError reports a state directory in use by another process.
type LockedError struct {
	Dir string
	PID int
}

func (e *LockedError) Error() string {
	holder := "another process"
	if e.PID > 0 {
		holder = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("state directory %s is in use by %s: two connectors must not share cursors; stop it or give this one another state_dir", e.Dir, holder)
}

// Open opens (creating it if needed) the state directory dir and takes its
// exclusive lock, held until Close.
func Open(dir string) (*FileStore, error) {
	s := &FileStore{dir: dir, now: time.Now, syncDir: syncDir}
	if err := s.mkdirAll(dir); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	return s.open()
}

// OpenExisting is Open for a state directory that must exist already (the
// commands that inspect or reset cursors: a mistyped state_dir must not
// silently create an empty one).
func OpenExisting(dir string) (*FileStore, error) {
	if err := existing(dir); err != nil {
		return nil, err
	}
	return (&FileStore{dir: dir, now: time.Now, syncDir: syncDir}).open()
}

func existing(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("state directory %s does not exist: check state_dir (no connector has run with it yet)", dir)
	case err != nil:
		return fmt.Errorf("state directory: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("state directory %s is not a directory: check state_dir", dir)
	}
	return nil
}

// OpenReadOnly is OpenExisting without the lock, for reading while a
// connector runs: cursor files are replaced whole (written aside, then
// renamed), so each read is of one saved version. Writes are refused.
func OpenReadOnly(dir string) (*FileStore, error) {
	if err := existing(dir); err != nil {
		return nil, err
	}
	return &FileStore{dir: dir, now: time.Now, syncDir: syncDir, readOnly: true}, nil
}

// errReadOnly is a write to a store opened with OpenReadOnly.
var errReadOnly = errors.New("the state directory was opened read-only")

func (s *FileStore) open() (*FileStore, error) {
	dir := s.dir
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := readPID(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("lock state directory %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	s.lock = f
	return s, nil
}

func readPID(f *os.File) (int, error) {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	return strconv.Atoi(strings.TrimSpace(string(b[:n])))
}

// Close releases the directory lock.
func (s *FileStore) Close() error {
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close() // closing releases the flock
	s.lock = nil
	return err
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Path returns the file that holds key's cursor.
func (s *FileStore) Path(key Key) string { return FilePath(s.dir, key) }

// FilePath returns the file that holds key's cursor in state directory
// dir.
func FilePath(dir string, key Key) string {
	name := unsafeChars.ReplaceAllString(key.Account, "_") + "." + unsafeChars.ReplaceAllString(key.Log, "_") + ".json"
	if key.Scope != "" {
		return filepath.Join(dir, "backfill", unsafeChars.ReplaceAllString(key.Scope, "_"), name)
	}
	return filepath.Join(dir, name)
}

// Load implements Store.
func (s *FileStore) Load(_ context.Context, key Key) (json.RawMessage, bool, error) {
	e, err := s.read(s.Path(key), &key)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return e.Cursor, true, nil
}

// read decodes one cursor file. When want is set, the document must be
// that key's.
func (s *FileStore) read(path string, want *Key) (Entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Entry{}, err
		}
		key := s.keyOfPath(path)
		if want != nil {
			key = *want
		}
		return Entry{}, &CorruptError{Path: path, Key: key, Reason: err}
	}
	var doc Document
	corrupt := func(reason error) (Entry, error) {
		key := Key{Account: doc.Account, Log: doc.Log, Scope: doc.Scope}
		if key.Log == "" {
			key = s.keyOfPath(path)
		}
		if want != nil {
			key = *want
		}
		return Entry{}, &CorruptError{Path: path, Key: key, Reason: reason}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return corrupt(fmt.Errorf("not a cursor document: %w", err))
	}
	switch {
	case doc.Version != Version:
		return corrupt(fmt.Errorf("format version %d, this connector reads version %d", doc.Version, Version))
	case len(doc.Cursor) == 0 || string(doc.Cursor) == "null" || doc.Cursor[0] != '{':
		return corrupt(errors.New("no cursor in it"))
	case want != nil && (doc.Account != want.Account || doc.Log != want.Log || doc.Scope != want.Scope):
		return corrupt(fmt.Errorf("it holds the cursor of %s, not %s", Key{doc.Account, doc.Log, doc.Scope}, *want))
	}
	var compact bytes.Buffer
	json.Compact(&compact, doc.Cursor) // undoes the file's indentation
	return Entry{Key: Key{doc.Account, doc.Log, doc.Scope}, Cursor: compact.Bytes(), Updated: doc.Updated, Path: path}, nil
}

// keyOfPath tells, from a cursor file's path alone, which cursor it holds
// (for hints about a file too damaged to say): the log from its name,
// the backfill from its directory.
func (s *FileStore) keyOfPath(path string) Key {
	var k Key
	base := strings.TrimSuffix(filepath.Base(path), ".json")
	if i := strings.LastIndexByte(base, '.'); i >= 0 {
		k.Account, k.Log = base[:i], base[i+1:]
	}
	if dir := filepath.Dir(path); filepath.Base(filepath.Dir(dir)) == "backfill" && filepath.Dir(filepath.Dir(dir)) == filepath.Clean(s.dir) {
		k.Scope = filepath.Base(dir)
	}
	return k
}

// Save implements Store: the document is written to a temporary file in
// the same directory, synced, renamed over the old one, and the directory
// synced, so a crash leaves either the old cursor or the new one.
func (s *FileStore) Save(_ context.Context, key Key, cursor json.RawMessage) error {
	if s.readOnly {
		return errReadOnly
	}
	if !json.Valid(cursor) {
		return fmt.Errorf("save cursor %s: not JSON", key)
	}
	doc, err := json.MarshalIndent(Document{
		Version: Version, Account: key.Account, Log: key.Log, Scope: key.Scope,
		Updated: s.now().UTC(), Cursor: cursor,
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("save cursor %s: %w", key, err)
	}
	path := s.Path(key)
	if err := s.writeFileAtomic(path, append(doc, '\n')); err != nil {
		return fmt.Errorf("save cursor %s: %w", key, err)
	}
	return nil
}

func (s *FileStore) writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := s.mkdirAll(dir); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return s.syncDir(dir)
}

// mkdirAll creates dir and its missing parents, syncing the parent of each
// one it creates: a directory that a crash could take back would take the
// cursors saved in it along.
func (s *FileStore) mkdirAll(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := s.mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return s.syncDir(parent)
}

// syncDir fsyncs a directory, making its entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Delete removes key's cursor; the next run starts from its configured
// starting point.
func (s *FileStore) Delete(_ context.Context, key Key) error {
	if s.readOnly {
		return errReadOnly
	}
	path := s.Path(key)
	err := os.Remove(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.syncDir(filepath.Dir(path))
}

// List returns every daemon cursor (Scope "") and, with backfills, every
// backfill cursor too. Unreadable files are returned as errors alongside
// the readable entries.
func (s *FileStore) List(backfills bool) ([]Entry, error) {
	paths, _ := filepath.Glob(filepath.Join(s.dir, "*.json"))
	if backfills {
		more, _ := filepath.Glob(filepath.Join(s.dir, "backfill", "*", "*.json"))
		paths = append(paths, more...)
	}
	sort.Strings(paths)
	var entries []Entry
	var errs []error
	for _, p := range paths {
		e, err := s.read(p, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		entries = append(entries, e)
	}
	return entries, errors.Join(errs...)
}

// CheckDir reports whether dir can serve as a state directory: it is a
// directory, or one can be created there, and the connector may write in
// it. Nothing is left behind.
func CheckDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("state_dir %s is a file, not a directory: point state_dir at a directory (it is created if missing)", dir)
	case err == nil:
		f, err := os.CreateTemp(dir, ".write-check-*")
		if err != nil {
			return fmt.Errorf("state_dir %s is not writable (%v): give the connector's user write access to it (systemd: StateDirectory=), or point state_dir elsewhere", dir, unwrapPath(err))
		}
		f.Close()
		os.Remove(f.Name())
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("state_dir %s: %v", dir, unwrapPath(err))
	}
	// Missing: the nearest existing ancestor must let us create it.
	parent := filepath.Dir(dir)
	for {
		fi, err := os.Stat(parent)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("state_dir %s cannot be created: %s is a file", dir, parent)
			}
			break
		}
		if next := filepath.Dir(parent); next != parent {
			parent = next
			continue
		}
		return fmt.Errorf("state_dir %s: %v", dir, unwrapPath(err))
	}
	if err := syscall.Access(parent, 2|1); err != nil { // W_OK|X_OK
		return fmt.Errorf("state_dir %s cannot be created in %s (%v): create it for the connector's user, or point state_dir elsewhere", dir, parent, err)
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
