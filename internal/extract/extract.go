// Package extract writes a (pax) tar stream into a target directory with
// os.Root so that nothing is ever written outside the target and no link is
// followed out of it.
//
// Every entry name is checked before anything is created: absolute names and
// names with a ".." element are refused, and so is an entry whose parent path
// has a symlink (or a non-directory) as a component, even when the symlink
// points inside the target. Files are created with O_EXCL (an existing file
// is removed first when overwriting, never opened), so a pre-existing hard
// link or symlink in the target cannot redirect the write. All operations go
// through an *os.Root for the target (or for a directory opened below it), and
// metadata of symlinks, device nodes and directories is set relative to an
// open parent directory without following the last component.
//
// Speed: the content of files of DirectMin (1 MiB) or more is written with
// O_DIRECT, past the page cache (direct.go); smaller files are created in
// stream order by the extractor and written, given their metadata and
// closed by a few writer goroutines (writers.go).
package extract

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Options says where and how Extract restores.
type Options struct {
	Target    string                       // created (mode 0700) if missing
	Overwrite bool                         // replace existing files; otherwise an existing file is kept and reported as skipped (ErrExists)
	Buffered  bool                         // write every file through the page cache; otherwise files of DirectMin bytes or more are written with O_DIRECT (direct.go)
	Owners    bool                         // chown to header uid/gid (only meaningful as root), and keep setuid/setgid bits
	Select    func(name string) bool       // nil = everything; entries not selected are skipped (content consumed). name is the cleaned entry name
	OnError   func(name string, err error) // per-entry problem (refused entry, failed chmod...); restore continues. may be nil
}

// Stats counts what Extract did.
//
// Entries counts every entry read (global pax headers excluded). Skipped
// counts entries not selected, existing entries kept (Overwrite false), and
// existing directories extracted into whose metadata was left alone.
// Refused counts entries refused as unsafe or unsupported. Device nodes and
// FIFOs are counted only in Entries.
type Stats struct {
	Entries, Files, Dirs, Symlinks, HardLinks, Skipped, Refused int64
	Bytes                                                       int64
	// DirectBytes counts the bytes of Bytes written with O_DIRECT.
	DirectBytes int64
	// Failed counts entries that could not be created because of an error
	// of the file system (permission, space, missing hard link target...).
	Failed int64
	// Errors counts the calls of OnError: refusals, failures, existing
	// files kept, and metadata (owner, mode, time, xattr) that could not be
	// applied to an entry that was created.
	Errors int64
}

var (
	// ErrRefused is wrapped by the error given to OnError for an entry
	// refused because it is unsafe or unsupported.
	ErrRefused = errors.New("refused")
	// ErrExists is wrapped by the error given to OnError for an entry that
	// already exists in the target and is kept because Overwrite is false.
	ErrExists = errors.New("exists, not overwritten")
	// ErrMismatch is wrapped by the error of ExtractOne for an entry that
	// is not the one asked for.
	ErrMismatch = errors.New("entry not as expected")
)

// geteuid is replaced by tests.
var geteuid = os.Geteuid

const (
	bufferSize = 1 << 20
	// holeBlock is the granularity at which runs of zeros in file content
	// are left as holes instead of being written.
	holeBlock = 64 << 10
	// sparseHoleBlock is that granularity in an entry stored sparse (a
	// GNU sparse pax entry, which the tar reader gives with its holes as
	// zeros): its holes are file system blocks.
	sparseHoleBlock = 4 << 10
)

var zeroBlock [holeBlock]byte

// bufPool holds copy buffers, so that many small restores do not each
// allocate one.
var bufPool = sync.Pool{New: func() any { return new(copyBuffer) }}

// refusal is an entry rejected for safety; its text says why.
type refusal string

func (r refusal) Error() string { return string(r) }

// Extract reads tar entries from r and recreates them under opts.Target. It
// returns an error for a broken stream (tar read error) or ctx; per-entry
// refusals and failures go to OnError and are counted.
//
// Directories get their final mode and mtime after the whole stream is read,
// deepest first. Parent directories missing from the stream are created with
// mode 0755. Character and block devices are created only when running as
// root (refused otherwise); FIFOs need no privilege and are always created.
// Runs of zeros in file content (64 KiB aligned, 4 KiB in an entry stored
// sparse) are left as holes. Files of DirectMin bytes or more are written
// with O_DIRECT unless opts.Buffered is set (direct.go).
func Extract(ctx context.Context, r io.Reader, opts Options) (Stats, error) {
	s, err := Open(opts)
	if err != nil {
		return Stats{}, err
	}
	err = s.Extract(ctx, r, 0, nil)
	st := s.Close()
	return st, err
}

// Session restores entries of several tar streams into one target, as one
// restore: a restore chain (a full, then the objects based on it) extracts
// from each object the entries that are its own, and the directories get
// their final metadata once, when the session is closed.
type Session struct {
	x *extractor
}

// Open prepares a restore into opts.Target.
func Open(opts Options) (*Session, error) {
	if opts.Target == "" {
		return nil, errors.New("extract: no target directory")
	}
	if err := os.MkdirAll(opts.Target, 0o700); err != nil {
		return nil, fmt.Errorf("extract: creating target: %w", err)
	}
	root, err := os.OpenRoot(opts.Target)
	if err != nil {
		return nil, fmt.Errorf("extract: opening target: %w", err)
	}
	x := &extractor{
		opts:     opts,
		root:     root,
		cbuf:     bufPool.Get().(*copyBuffer),
		verified: map[string]bool{},
		subdirs:  map[string][]string{},
		dirs:     map[string]*dirMeta{},
		parents:  map[string]*parentDir{},
		isRoot:   geteuid() == 0,
	}
	x.buf = x.cbuf.aligned()
	return &Session{x: x}, nil
}

// Close applies the directories' final metadata, releases the target and
// returns what the session did.
func (s *Session) Close() Stats {
	x := s.x
	if x.cbuf == nil {
		return x.stats
	}
	x.collect(true)
	if x.wr != nil {
		x.wr.stop()
		x.collect(false)
		x.wr = nil
	}
	x.finishDirs()
	x.close()
	bufPool.Put(x.cbuf)
	x.cbuf, x.buf = nil, nil
	return x.stats
}

// Stats returns what the session did so far.
func (s *Session) Stats() Stats {
	s.x.collect(true)
	return s.x.stats
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// blockSize is the tar block: every header starts at a multiple of it.
const blockSize = 512

// Extract reads the tar stream r, whose first byte is at offset base of
// the archive, and extracts its entries. keep, if set, is asked for each
// entry with the archive offset where the entry starts (its pax extended
// header when it has one) and its name, so that a caller can pick entries
// by the offsets a catalog recorded; entries it refuses are skipped (their
// content read and dropped). Global pax headers are skipped and not
// counted. When r fails (or the archive cannot be read), the error says at
// which archive offset the entry starts that was cut (see CutAt): the
// entries before it are complete, that one is not restored.
func (s *Session) Extract(ctx context.Context, r io.Reader, base int64, keep func(offset int64, name string) bool) error {
	x := s.x
	err := Entries(r, func(tr *tar.Reader, hdr *tar.Header, off int64) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			return nil
		}
		x.stats.Entries++
		if keep != nil && !keep(base+off, hdr.Name) {
			x.stats.Skipped++
			return nil
		}
		if err := x.entry(tr, hdr); err != nil {
			return &entryError{off: off, err: err}
		}
		return nil
	})
	x.collect(true)
	var ee *entryError
	if errors.As(err, &ee) {
		ee.off += base
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("extract: %w", err)
	}
	return err
}

// CutAt returns, for an error of Session.Extract that a failure to read
// the stream caused, the archive offset of the entry it cut.
func CutAt(err error) (int64, bool) {
	var ee *entryError
	if errors.As(err, &ee) {
		return ee.off, true
	}
	return 0, false
}

// Entries calls fn for each entry of the tar stream r, global pax headers
// included, with the offset in r where the entry starts (its pax extended
// header when it has one): the offset the agent records for it. fn may
// read the entry's content from tr; what it leaves is read past. An error
// of fn ends the walk and is returned as is.
func Entries(r io.Reader, fn func(tr *tar.Reader, hdr *tar.Header, offset int64) error) error {
	cr := &countingReader{r: r}
	tr := tar.NewReader(cr)
	for {
		// The previous entry was read to its end: the next header starts
		// at the next block boundary.
		off := (cr.n + blockSize - 1) / blockSize * blockSize
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &entryError{off: off, err: err}
		}
		if err := fn(tr, hdr, off); err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return &entryError{off: off, err: err}
		}
	}
}

// entryError is a failure to read the archive itself, at an offset.
type entryError struct {
	off int64
	err error
}

func (e *entryError) Error() string {
	return fmt.Sprintf("reading archive at offset %d: %v", e.off, e.err)
}
func (e *entryError) Unwrap() error { return e.err }

// ExtractOne reads the one entry that r starts with and extracts it. When
// name is not empty, an entry of another name is an error (nothing is
// extracted): the caller looked for name there.
func (s *Session) ExtractOne(ctx context.Context, r io.Reader, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("extract: reading archive entry: %w", err)
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	if name != "" && strings.TrimSuffix(hdr.Name, "/") != strings.TrimSuffix(name, "/") {
		return fmt.Errorf("%w: the archive has %q there, not %q", ErrMismatch, hdr.Name, name)
	}
	s.x.stats.Entries++
	err = s.x.entry(tr, hdr)
	s.x.collect(true)
	return err
}

// Restored reports whether the target already has name (an archive entry
// name) as a regular file of this size and mtime, or as a symlink to link:
// what a restore that was interrupted had finished. A file is
// given its mtime only after all of its content was written, so a file cut
// short does not pass.
func (s *Session) Restored(name string, typ byte, size int64, mtime time.Time, link string) bool {
	s.x.collect(true)
	n, err := cleanName(name)
	if err != nil || n == "." {
		return false
	}
	fi, err := s.x.root.Lstat(n)
	if err != nil {
		return false
	}
	switch typ {
	case tar.TypeReg, 0:
		return fi.Mode().IsRegular() && fi.Size() == size && fi.ModTime().Equal(mtime)
	case tar.TypeSymlink:
		if fi.Mode()&fs.ModeSymlink == 0 {
			return false
		}
		target, err := s.x.root.Readlink(n)
		return err == nil && target == link
	}
	return false
}

type dirMeta struct {
	mode     uint32
	mtime    time.Time
	implicit bool // created as a missing parent: mode only, no mtime
}

// parentDir is an open directory of the target: a Root for creating entries
// in it and a descriptor for the *at calls os.Root does not offer.
type parentDir struct {
	name string
	root *os.Root
	f    *os.File
	fd   int
}

type extractor struct {
	opts  Options
	root  *os.Root
	stats Stats
	cbuf  *copyBuffer
	buf   []byte // cbuf's aligned bytes
	// noDirect is set when the target's file system refused O_DIRECT.
	noDirect bool
	// wr writes small files on other goroutines (writers.go); pending
	// names the files handed to it whose results are not collected yet.
	wr       *writers
	pending  map[string]bool
	verified map[string]bool // directories known to be real directories (not symlinks)
	// subdirs holds the verified directories of each verified directory,
	// so that forget walks only the subtree of what it removed. Every
	// verified directory's parent is verified, and every name in dirs is
	// verified.
	subdirs map[string][]string
	dirs    map[string]*dirMeta   // directories whose final metadata is applied at the end
	parents map[string]*parentDir // open directories, see parent
	isRoot  bool
	// forgetSteps counts the names forget looked at, for the test that
	// its cost does not grow with the size of the restore.
	forgetSteps int64
}

func (x *extractor) close() {
	x.dropParents("")
	x.root.Close()
}

// maxParents bounds the open directories kept for reuse (two descriptors
// each).
const maxParents = 64

// dropParents closes the cached directories named prefix or below it; all
// of them for "".
func (x *extractor) dropParents(prefix string) {
	for name, p := range x.parents {
		if prefix == "" || name == prefix || strings.HasPrefix(name, prefix+"/") {
			p.f.Close()
			p.root.Close()
			delete(x.parents, name)
		}
	}
}

// parent returns the open directory dir (a cleaned name, "." for the target).
func (x *extractor) parent(dir string) (*parentDir, error) {
	if p, ok := x.parents[dir]; ok {
		return p, nil
	}
	if len(x.parents) >= maxParents {
		for name, p := range x.parents { // evict any one
			p.f.Close()
			p.root.Close()
			delete(x.parents, name)
			break
		}
	}
	r, err := x.root.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	f, err := r.Open(".")
	if err != nil {
		r.Close()
		return nil, err
	}
	p := &parentDir{name: dir, root: r, f: f, fd: int(f.Fd())}
	x.parents[dir] = p
	return p, nil
}

func (x *extractor) report(name string, err error) {
	x.stats.Errors++
	if x.opts.OnError != nil {
		x.opts.OnError(name, err)
	}
}

func (x *extractor) refuse(name, reason string) {
	x.stats.Refused++
	x.report(name, fmt.Errorf("%w: %q: %s", ErrRefused, name, reason))
}

func (x *extractor) fail(name string, err error) {
	var r refusal
	if errors.As(err, &r) {
		x.refuse(name, string(r))
		return
	}
	x.stats.Failed++
	x.report(name, fmt.Errorf("%q: %w", name, err))
}

// warn reports a problem with the metadata of an entry that was created.
func (x *extractor) warn(name, what string, err error) {
	x.report(name, fmt.Errorf("%q: %s: %w", name, what, err))
}

func (x *extractor) exists(name string) {
	x.stats.Skipped++
	x.report(name, fmt.Errorf("%w: %q", ErrExists, name))
}

// cleanName checks an entry (or hard link target) name and returns it
// cleaned, relative to the target.
func cleanName(n string) (string, error) {
	switch {
	case n == "":
		return "", refusal("empty name")
	case strings.IndexByte(n, 0) >= 0:
		return "", refusal("name contains a NUL byte")
	case n[0] == '/':
		return "", refusal("absolute name")
	}
	for e := range strings.SplitSeq(n, "/") {
		if e == ".." {
			return "", refusal(`name contains a ".." element`)
		}
	}
	c := pathClean(n)
	if c == "" || c[0] == '/' || c == ".." || strings.HasPrefix(c, "../") {
		return "", refusal("name leaves the target")
	}
	return c, nil
}

// pathClean is path.Clean for names known to hold no ".." element.
func pathClean(n string) string {
	var b strings.Builder
	for e := range strings.SplitSeq(n, "/") {
		if e == "" || e == "." {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(e)
	}
	if b.Len() == 0 {
		return "."
	}
	return b.String()
}

// split returns the directory ("." at top level) and base name of a cleaned
// name.
func split(name string) (dir, base string) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return ".", name
	}
	return name[:i], name[i+1:]
}

// ensureDir makes sure that dir is a real directory in the target, creating
// it (and its parents) when missing. A symlink or non-directory on the way is
// a refusal.
func (x *extractor) ensureDir(dir string, create bool) error {
	if dir == "." || x.verified[dir] {
		return nil
	}
	parent, _ := split(dir)
	if err := x.ensureDir(parent, create); err != nil {
		return err
	}
	fi, err := x.root.Lstat(dir)
	switch {
	case err == nil && fi.IsDir():
	case err == nil && fi.Mode()&fs.ModeSymlink != 0:
		return refusal(fmt.Sprintf("path component %q is a symlink", dir))
	case err == nil:
		return refusal(fmt.Sprintf("path component %q is not a directory", dir))
	case errors.Is(err, fs.ErrNotExist) && create:
		if err := x.root.Mkdir(dir, 0o700); err != nil {
			return err
		}
		x.dirs[dir] = &dirMeta{mode: 0o755, implicit: true}
	default:
		return err
	}
	x.verify(dir)
	return nil
}

// verify records that dir (whose parent is verified) is a real directory.
func (x *extractor) verify(dir string) {
	if x.verified[dir] {
		return
	}
	x.verified[dir] = true
	if dir != "." {
		parent, _ := split(dir)
		x.subdirs[parent] = append(x.subdirs[parent], dir)
	}
}

func (x *extractor) entry(tr *tar.Reader, hdr *tar.Header) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		x.fail(hdr.Name, err)
		return nil
	}
	if name == "." {
		if hdr.Typeflag == tar.TypeDir {
			// The target itself: keep it as it is.
			x.stats.Skipped++
			return nil
		}
		x.refuse(hdr.Name, "not a directory but names the target itself")
		return nil
	}
	if x.opts.Select != nil && !x.opts.Select(name) {
		x.stats.Skipped++
		return nil
	}
	if x.pending[name] || hdr.Typeflag == tar.TypeLink {
		// The same name again, or a hard link (to a file that may be
		// in flight): the files written so far are finished first.
		x.collect(true)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeDir, tar.TypeSymlink,
		tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		x.refuse(hdr.Name, fmt.Sprintf("unsupported entry type %q", hdr.Typeflag))
		return nil
	}
	if (hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock) && !x.isRoot {
		x.refuse(hdr.Name, "device node needs root to be created")
		return nil
	}
	dir, base := split(name)
	if err := x.ensureDir(dir, true); err != nil {
		x.fail(hdr.Name, err)
		return nil
	}
	p, err := x.parent(dir)
	if err != nil {
		x.fail(hdr.Name, err)
		return nil
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse:
		return x.file(tr, hdr, name, p, base)
	case tar.TypeDir:
		x.dir(hdr, name, p, base)
	case tar.TypeSymlink:
		x.symlink(hdr, name, p, base)
	case tar.TypeLink:
		x.hardlink(hdr, name, p, base)
	default:
		x.node(hdr, name, p, base)
	}
	return nil
}

// replace removes the existing entry base of p to make room for name, when
// Overwrite allows it. It reports and returns false when the entry must be
// kept or cannot be removed.
func (x *extractor) replace(p *parentDir, base, name string) bool {
	if !x.opts.Overwrite {
		x.exists(name)
		return false
	}
	if err := p.root.Remove(base); err != nil {
		x.fail(name, fmt.Errorf("removing existing entry: %w", err))
		return false
	}
	x.forget(name)
	return true
}

// forget drops what is known about name and below after it was removed.
// Only a verified directory has anything known below it, so forgetting a
// file costs nothing and forgetting a directory costs its subtree.
func (x *extractor) forget(name string) {
	x.dropParents(name)
	if !x.verified[name] {
		return
	}
	stack := []string{name}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		x.forgetSteps++
		if !x.verified[d] {
			continue // a stale name: forgotten before and not verified again
		}
		delete(x.verified, d)
		delete(x.dirs, d)
		stack = append(stack, x.subdirs[d]...)
		delete(x.subdirs, d)
	}
	// name stays in its parent's list: a stale name is skipped, and one
	// verified again is only listed twice.
}

func (x *extractor) mode(hdr *tar.Header) uint32 {
	m := uint32(hdr.Mode) & 0o7777
	if !x.opts.Owners {
		m &^= unix.S_ISUID | unix.S_ISGID
	}
	return m
}

// setTimes sets atime and mtime of base in p to the entry's mtime, without
// following a symlink.
func (x *extractor) setTimes(p *parentDir, base, name string, t time.Time) {
	ts, err := unix.TimeToTimespec(t)
	if err != nil {
		x.warn(name, "setting mtime", err)
		return
	}
	if err := unix.UtimesNanoAt(p.fd, base, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		x.warn(name, "setting mtime", err)
	}
}

// lchown sets the owner of base in p without following a symlink.
func (x *extractor) lchown(p *parentDir, base, name string, hdr *tar.Header) {
	if !x.opts.Owners {
		return
	}
	if err := unix.Fchownat(p.fd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		x.warn(name, "setting owner", err)
	}
}

// chmodNoFollow sets the mode of base in directory fd unless it is a symlink.
func chmodNoFollow(fd int, base string, mode uint32) error {
	err := unix.Fchmodat(fd, base, mode, unix.AT_SYMLINK_NOFOLLOW)
	if err != unix.EOPNOTSUPP && err != unix.ENOTSUP {
		return err
	}
	// No fchmodat2 (Linux < 6.6), or base is a symlink.
	var st unix.Stat_t
	if err := unix.Fstatat(fd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return errors.New("is a symlink")
	}
	return unix.Fchmodat(fd, base, mode, 0)
}

func (x *extractor) setXattrs(fd int, name string, hdr *tar.Header) {
	for _, xa := range xattrs(hdr) {
		if err := unix.Fsetxattr(fd, xa.name, []byte(xa.value), 0); err != nil {
			x.warn(name, "setting extended attribute "+strconv.Quote(xa.name), err)
		}
	}
}

type xattr struct{ name, value string }

// xattrs returns the extended attributes of an entry (its SCHILY.xattr.
// pax records).
func xattrs(hdr *tar.Header) []xattr {
	var out []xattr
	for k, v := range hdr.PAXRecords {
		if attr, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok && attr != "" {
			out = append(out, xattr{attr, v})
		}
	}
	return out
}

func hasXattrs(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			return true
		}
	}
	return false
}

func (x *extractor) file(tr *tar.Reader, hdr *tar.Header, name string, p *parentDir, base string) error {
	const flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	f, err := p.root.OpenFile(base, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		if !x.replace(p, base, name) {
			return nil
		}
		f, err = p.root.OpenFile(base, flags, 0o600)
	}
	if err != nil {
		x.fail(name, err)
		return nil
	}
	gran := holeBlock
	if hdr.PAXRecords["GNU.sparse.major"] != "" {
		gran = sparseHoleBlock
	}
	if hdr.Size < DirectMin {
		data := make([]byte, hdr.Size)
		if _, err := io.ReadFull(tr, data); err != nil {
			f.Close()
			p.root.Remove(base)
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("extract: reading archive: %q: %w", hdr.Name, err)
		}
		if x.wr == nil {
			x.wr = newWriters(x.root.Remove)
			x.pending = map[string]bool{}
		}
		x.pending[name] = true
		x.wr.submit(writeJob{f: f, data: data, name: name, hdr: hdr, mode: x.mode(hdr), owner: x.opts.Owners, gran: gran})
		x.collect(false)
		return nil
	}
	w := newFileWriter(f, !x.opts.Buffered && hdr.Size >= DirectMin, &x.noDirect)
	n, werr, rerr := x.copy(w, tr, hdr.Size, gran)
	if rerr != nil || werr != nil {
		f.Close()
		p.root.Remove(base)
		if rerr != nil {
			return fmt.Errorf("extract: reading archive: %q: %w", hdr.Name, rerr)
		}
		x.fail(name, werr)
		return nil
	}
	fd := int(f.Fd())
	if x.opts.Owners {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			x.warn(name, "setting owner", err)
		}
	}
	// After chown, which clears setuid/setgid.
	if err := unix.Fchmod(fd, x.mode(hdr)); err != nil {
		x.warn(name, "setting mode", err)
	}
	x.setXattrs(fd, name, hdr)
	if err := f.Close(); err != nil {
		x.fail(name, err)
		return nil
	}
	x.setTimes(p, base, name, hdr.ModTime)
	x.stats.Files++
	x.stats.Bytes += n
	x.stats.DirectBytes += w.directBytes
	return nil
}

// collect takes the results of the files written by the writers: with
// wait, after every file handed to them is done. Problems are reported
// from here, the extractor's goroutine, as for every other entry.
func (x *extractor) collect(wait bool) {
	if x.wr == nil {
		return
	}
	for _, r := range x.wr.take(wait) {
		delete(x.pending, r.name)
		if r.fail != nil {
			x.fail(r.name, r.fail)
			continue
		}
		for _, w := range r.warns {
			x.warn(r.name, w.what, w.err)
		}
		x.stats.Files++
		x.stats.Bytes += r.bytes
	}
}

// copy writes the content of the current entry to f, leaving runs of zeros
// aligned to gran as holes. rerr is an error of the stream, werr of f.
func (x *extractor) copy(f *fileWriter, r io.Reader, size int64, gran int) (n int64, werr, rerr error) {
	var end int64 // end of the data written
	for {
		// Whole buffers, so that every write but the file's last is
		// aligned (for O_DIRECT) and large.
		m, err := fill(r, x.buf)
		if m > 0 && werr == nil {
			last, e := writeSparse(f, x.buf[:m], n, gran)
			if e != nil {
				werr = e
			} else if last > end {
				end = last
			}
		}
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, werr, err
		}
	}
	if werr == nil && n > end {
		// Trailing zeros were not written: set the size.
		werr = f.f.Truncate(n)
	}
	if werr == nil && n != size {
		// The tar reader delivers exactly size bytes; anything else is a
		// broken stream.
		return n, nil, io.ErrUnexpectedEOF
	}
	return n, werr, nil
}

// fill reads from r until p is full or r returns an error (io.EOF at the
// end of the entry), which it returns with the bytes read.
func fill(r io.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// writeSparse writes p, the file content at offset off, to f. Pieces cut at
// gran (at most holeBlock) boundaries of the file that are all zeros are
// skipped (left as holes of the new file); consecutive other pieces are
// written in one call. It returns the end offset of the last data written,
// 0 if none.
func writeSparse(f io.WriterAt, p []byte, off int64, gran int) (end int64, err error) {
	runStart := -1 // index in p of the pending run of data
	i := 0
	for i < len(p) {
		k := gran - int((off+int64(i))%int64(gran))
		if k > len(p)-i {
			k = len(p) - i
		}
		if bytes.Equal(p[i:i+k], zeroBlock[:k]) {
			if runStart >= 0 {
				if _, err := f.WriteAt(p[runStart:i], off+int64(runStart)); err != nil {
					return 0, err
				}
				end = off + int64(i)
				runStart = -1
			}
		} else if runStart < 0 {
			runStart = i
		}
		i += k
	}
	if runStart >= 0 {
		if _, err := f.WriteAt(p[runStart:], off+int64(runStart)); err != nil {
			return 0, err
		}
		end = off + int64(len(p))
	}
	return end, nil
}

func (x *extractor) dir(hdr *tar.Header, name string, p *parentDir, base string) {
	err := p.root.Mkdir(base, 0o700)
	if errors.Is(err, fs.ErrExist) {
		fi, lerr := p.root.Lstat(base)
		switch {
		case lerr != nil:
			err = lerr
		case fi.IsDir():
			if _, ours := x.dirs[name]; !ours && !x.opts.Overwrite {
				// A directory that was there before: extract into it
				// but leave its metadata alone.
				x.verify(name)
				x.stats.Skipped++
				return
			}
			err = nil
		default:
			if !x.replace(p, base, name) {
				return
			}
			err = p.root.Mkdir(base, 0o700)
		}
	}
	if err != nil {
		x.fail(name, err)
		return
	}
	x.verify(name)
	x.dirs[name] = &dirMeta{mode: x.mode(hdr), mtime: hdr.ModTime}
	x.lchown(p, base, name, hdr)
	if hasXattrs(hdr) {
		f, err := p.root.OpenFile(base, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		if err != nil {
			x.warn(name, "opening for extended attributes", err)
		} else {
			x.setXattrs(int(f.Fd()), name, hdr)
			f.Close()
		}
	}
	x.stats.Dirs++
}

func (x *extractor) symlink(hdr *tar.Header, name string, p *parentDir, base string) {
	err := p.root.Symlink(hdr.Linkname, base)
	if errors.Is(err, fs.ErrExist) {
		if !x.replace(p, base, name) {
			return
		}
		err = p.root.Symlink(hdr.Linkname, base)
	}
	if err != nil {
		x.fail(name, err)
		return
	}
	x.lchown(p, base, name, hdr)
	x.setTimes(p, base, name, hdr.ModTime)
	x.stats.Symlinks++
}

func (x *extractor) hardlink(hdr *tar.Header, name string, p *parentDir, base string) {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		x.refuse(hdr.Name, fmt.Sprintf("hard link target %q: %v", hdr.Linkname, err))
		return
	}
	if target == "." || target == name {
		x.refuse(hdr.Name, fmt.Sprintf("hard link target %q is the target directory or the entry itself", hdr.Linkname))
		return
	}
	tdir, _ := split(target)
	if err := x.ensureDir(tdir, false); err != nil {
		var r refusal
		if errors.As(err, &r) {
			x.refuse(hdr.Name, fmt.Sprintf("hard link target %q: %s", hdr.Linkname, r))
		} else {
			x.fail(name, fmt.Errorf("hard link target %q: %w", hdr.Linkname, err))
		}
		return
	}
	fi, err := x.root.Lstat(target)
	if err != nil {
		x.fail(name, fmt.Errorf("hard link target %q was not extracted: %w", hdr.Linkname, err))
		return
	}
	if fi.IsDir() {
		x.refuse(hdr.Name, fmt.Sprintf("hard link target %q is a directory", hdr.Linkname))
		return
	}
	err = x.root.Link(target, name)
	if errors.Is(err, fs.ErrExist) {
		if !x.replace(p, base, name) {
			return
		}
		err = x.root.Link(target, name)
	}
	if err != nil {
		x.fail(name, err)
		return
	}
	x.stats.HardLinks++
}

func (x *extractor) node(hdr *tar.Header, name string, p *parentDir, base string) {
	var typ uint32
	switch hdr.Typeflag {
	case tar.TypeChar:
		typ = unix.S_IFCHR
	case tar.TypeBlock:
		typ = unix.S_IFBLK
	default:
		typ = unix.S_IFIFO
	}
	dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	err := unix.Mknodat(p.fd, base, typ|0o600, dev)
	if err == unix.EEXIST {
		if !x.replace(p, base, name) {
			return
		}
		err = unix.Mknodat(p.fd, base, typ|0o600, dev)
	}
	if err != nil {
		x.fail(name, err)
		return
	}
	x.lchown(p, base, name, hdr)
	if err := chmodNoFollow(p.fd, base, x.mode(hdr)); err != nil {
		x.warn(name, "setting mode", err)
	}
	x.setTimes(p, base, name, hdr.ModTime)
}

// finishDirs applies the final mode and mtime of the directories, deepest
// first (a name sorts after its parent's).
func (x *extractor) finishDirs() {
	names := make([]string, 0, len(x.dirs))
	for n := range x.dirs {
		names = append(names, n)
	}
	slices.Sort(names)
	slices.Reverse(names)
	for _, n := range names {
		m := x.dirs[n]
		dir, base := split(n)
		p, err := x.parent(dir)
		if err != nil {
			x.warn(n, "opening parent directory", err)
			continue
		}
		if err := chmodNoFollow(p.fd, base, m.mode); err != nil {
			x.warn(n, "setting mode", err)
		}
		if !m.implicit {
			x.setTimes(p, base, n, m.mtime)
		}
	}
}
