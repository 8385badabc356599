// Package agent reads a source (paths + exclude patterns) of the local file
// system into a POSIX pax tar stream. A regular file with holes is written
// as a GNU sparse 1.0 entry (see sparse.go).
//
// The walk never follows symbolic links: every entry below a given path is
// opened relative to the file descriptor of its parent directory with
// O_NOFOLLOW, and the tar header of a regular file or directory is made from
// fstat(2) of the descriptor that is then read, so that a file swapped for a
// symlink or another file during the walk is never read in place of the one
// that was listed.
package agent

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Entry describes one entry written to the tar stream.
type Entry struct {
	Name         string // name in the archive: the absolute path with the leading "/" removed; directories without trailing slash
	Type         byte   // tar typeflag: tar.TypeReg, TypeDir, TypeSymlink, TypeLink, TypeChar, TypeBlock, TypeFifo
	Size         int64  // the file's size (its real size for a sparse entry; 0 for non-regular, and for hard links)
	Mode         int64  // permission + setuid/setgid/sticky bits (as tar Header.Mode)
	UID, GID     int
	Uname, Gname string
	ModTime      time.Time
	Ctime        time.Time
	Inode        uint64
	Dev          uint64
	LinkName     string // symlink target, or for TypeLink the archive Name of the first entry of that inode
	Offset       int64  // byte offset in the tar stream where this entry's header starts (its pax extended header when it has one): a tar.Reader started there reads this entry
}

// Options says what Archive reads.
type Options struct {
	// Paths are absolute paths (files or directories), walked in the given
	// order, each recursively. Their parent directories are not emitted.
	// A path that lies below (or is equal to) an earlier path is not
	// walked a second time.
	Paths []string
	// Exclude holds path.Match patterns; an entry is skipped (and for a
	// directory, its subtree) if a pattern matches its base name or its full
	// absolute path. A pattern ending in "/" matches directories only.
	Exclude []string
	// OnEntry is called once per entry after its header and data are
	// written. May be nil.
	OnEntry func(Entry)
	// OnError reports a path that vanished or cannot be read (it is
	// skipped), or a file that changed size while it was read (it is kept,
	// see ErrFileChanged). Never fatal. May be nil.
	OnError func(path string, err error)
	// BufferSize is the size of the copy buffer for file data; default 1 MiB.
	BufferSize int
	// Base, if set, makes the archive an incremental one against the tree
	// Base describes: see incremental.go.
	Base Base
}

// Stats counts what Archive wrote.
type Stats struct {
	Entries, Files, Dirs, Symlinks, HardLinks, Errors int64
	Bytes                                             int64 // file content bytes
	// Unchanged counts the entries left out because they are as in the
	// base; Deleted the deletion entries written (incremental only).
	Unchanged, Deleted int64
}

// ErrFileChanged is wrapped by the error reported to OnError for a regular
// file whose size changed while it was read. The entry is still in the
// stream: a file that shrank is padded with zeros to its header size, a file
// that grew is truncated to it.
var ErrFileChanged = errors.New("file changed while it was read")

// ErrBadPattern is wrapped by the error Archive returns for an invalid
// exclude pattern.
var ErrBadPattern = errors.New("bad exclude pattern")

// ValidatePattern reports whether p is a valid exclude pattern.
func ValidatePattern(p string) error {
	q := strings.TrimSuffix(p, "/")
	if q == "" {
		return fmt.Errorf("%w: %q: empty", ErrBadPattern, p)
	}
	if _, err := path.Match(q, ""); err != nil {
		return fmt.Errorf("%w: %q: %v", ErrBadPattern, p, err)
	}
	return nil
}

const defaultBufferSize = 1 << 20

// Archive writes the pax tar stream of opts.Paths to w and finishes it (tar
// footer). It returns an error only for failures of w or ctx, and, before
// anything is written, for an invalid exclude pattern (ErrBadPattern);
// per-file problems go to OnError.
func Archive(ctx context.Context, w io.Writer, opts Options) (Stats, error) {
	a := &archiver{
		ctx:    ctx,
		opts:   opts,
		base:   opts.Base,
		users:  map[int]string{},
		groups: map[int]string{},
		links:  map[fileID]string{},
	}
	for _, p := range opts.Exclude {
		if err := ValidatePattern(p); err != nil {
			return a.stats, err
		}
		a.excl = append(a.excl, pattern{pat: strings.TrimSuffix(p, "/"), dirOnly: strings.HasSuffix(p, "/")})
	}
	size := opts.BufferSize
	if size <= 0 {
		size = defaultBufferSize
	}
	a.buf = make([]byte, size)
	a.cw = &countingWriter{w: w}
	a.tw = tar.NewWriter(a.cw)

	var done []string
	for _, p := range opts.Paths {
		if err := ctx.Err(); err != nil {
			return a.stats, err
		}
		if !filepath.IsAbs(p) {
			a.report(p, errors.New("not an absolute path, skipped"))
			continue
		}
		p = filepath.Clean(p)
		if covered(done, p) {
			continue
		}
		// A path given earlier that lies below p is skipped when the walk
		// of p meets it, so that nothing is emitted twice.
		a.done = done
		if err := a.root(p); err != nil {
			return a.stats, err
		}
		done = append(done, p)
	}
	if err := a.droppedRoots(done); err != nil {
		return a.stats, err
	}
	if err := ctx.Err(); err != nil {
		return a.stats, err
	}
	if err := a.tw.Close(); err != nil {
		return a.stats, err
	}
	return a.stats, nil
}

// join returns the path of name in directory dir.
func join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// covered reports whether p is one of roots or lies below one of them.
func covered(roots []string, p string) bool {
	for _, r := range roots {
		if p == r || r == "/" || (strings.HasPrefix(p, r) && p[len(r)] == '/') {
			return true
		}
	}
	return false
}

type pattern struct {
	pat     string
	dirOnly bool
}

type fileID struct{ dev, ino uint64 }

type archiver struct {
	ctx     context.Context
	opts    Options
	base    Base
	stats   Stats
	cw      *countingWriter
	tw      *tar.Writer
	buf     []byte
	xbuf    []byte // xattr names
	vbuf    []byte // xattr values
	lbuf    []byte // readlink
	hdr     tar.Header
	pending Entry // the entry being written
	excl    []pattern
	done    []string // roots already archived
	// sparse, when set, is the layout of the regular file being written:
	// header writes a sparse entry (sparse.go), whose content takes
	// sparseStored bytes.
	sparse       *sparseMap
	sparseStored int64
	hbuf         []byte // sparse headers
	// noXattrs says that the entry being written has no extended
	// attributes (statAhead listed none), so xattrs need not ask again.
	noXattrs bool
	users    map[int]string
	groups   map[int]string
	links    map[fileID]string
}

// countingWriter counts the bytes written to w and remembers its first error,
// which distinguishes a failure of the output (fatal) from an invalid header
// (reported, the entry skipped).
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		c.err = err
	}
	return n, err
}

func (a *archiver) report(p string, err error) {
	a.stats.Errors++
	if a.opts.OnError != nil {
		a.opts.OnError(p, err)
	}
}

func (a *archiver) excluded(full, base string, dir bool) bool {
	for _, p := range a.excl {
		if p.dirOnly && !dir {
			continue
		}
		if ok, _ := path.Match(p.pat, base); ok {
			return true
		}
		if ok, _ := path.Match(p.pat, full); ok {
			return true
		}
	}
	return false
}

// root archives one of Options.Paths.
func (a *archiver) root(p string) error {
	if p == "/" {
		// The root directory has no name in the archive: walk its
		// children only.
		fd, err := openDir(unix.AT_FDCWD, "/")
		if err != nil {
			a.report(p, err)
			return nil
		}
		defer unix.Close(fd)
		return a.children(fd, "/")
	}
	dir, base := filepath.Split(p)
	var prev *BaseEntry
	if a.base != nil {
		old, err := a.base.Dir(filepath.Clean(dir))
		if err != nil {
			return fmt.Errorf("agent: base of %s: %w", p, err)
		}
		if e, ok := old[base]; ok {
			prev = &e
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		a.report(p, err)
		if prev != nil && errors.Is(err, unix.ENOENT) {
			return a.deleted(p, prev)
		}
		return nil
	}
	typ := modeType(st.Mode)
	if a.excluded(p, base, typ == fs.ModeDir) {
		if prev != nil {
			return a.deleted(p, prev)
		}
		return nil
	}
	// The parent of a given path is opened following symlinks: the path is
	// the administrator's; only its last element is never followed.
	pfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		a.report(p, err)
		return nil
	}
	defer unix.Close(pfd)
	return a.child(pfd, p, base, typ, prev, nil)
}

func openDir(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// openFile opens a regular file for reading without following a symlink,
// without blocking on a FIFO swapped in, and without updating its atime when
// permitted.
func openFile(dirfd int, name string) (int, error) {
	flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC | unix.O_NOCTTY
	noatime := unix.O_NOATIME
	for {
		fd, err := unix.Openat(dirfd, name, flags|noatime, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EPERM && noatime != 0:
			// O_NOATIME needs ownership of the file or CAP_FOWNER.
			noatime = 0
			continue
		}
		return fd, err
	}
}

func modeType(m uint32) fs.FileMode {
	switch m & unix.S_IFMT {
	case unix.S_IFREG:
		return 0
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	}
	return fs.ModeIrregular
}

// children archives the entries of the open directory dfd (path dir), in
// lexical order.
func (a *archiver) children(dfd int, dir string) error {
	// Dup so that closing the *os.File used for reading the directory does
	// not close dfd, which the caller owns.
	nfd, err := unix.Dup(dfd)
	if err != nil {
		a.report(dir, err)
		return nil
	}
	f := os.NewFile(uintptr(nfd), dir)
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		a.report(dir, err)
		if len(ents) == 0 {
			return nil
		}
	}
	slices.SortFunc(ents, func(x, y fs.DirEntry) int { return strings.Compare(x.Name(), y.Name()) })
	sa := a.statAhead(dfd, dir, ents)
	defer sa.stop()
	var old map[string]BaseEntry
	if a.base != nil {
		if old, err = a.base.Dir(dir); err != nil {
			return fmt.Errorf("agent: base of %s: %w", dir, err)
		}
	}
	for i, e := range ents {
		if err := a.ctx.Err(); err != nil {
			return err
		}
		pre := sa.get(i)
		name := e.Name()
		full := join(dir, name)
		typ := e.Type()
		if a.excluded(full, name, typ == fs.ModeDir) {
			continue // and deleted, if the base has it
		}
		var prev *BaseEntry
		if pe, ok := old[name]; ok {
			prev = &pe
			delete(old, name)
		}
		if len(a.done) > 0 && covered(a.done, full) {
			continue
		}
		if err := a.child(dfd, full, name, typ, prev, pre); err != nil {
			return err
		}
	}
	return a.deletedIn(dir, old)
}

// child archives the entry name of directory dfd; full is its absolute path
// and typ its type as listed.
func (a *archiver) child(dfd int, full, name string, typ fs.FileMode, prev *BaseEntry, pre *stated) error {
	if typ != 0 && typ != fs.ModeDir {
		return a.other(dfd, full, name, prev)
	}
	if typ == 0 && (pre != nil || prev != nil) {
		// A regular file that is empty, or as the base has it, is not
		// read: its stat is all that is needed, without opening it. (In a
		// small directory of a full backup nothing was stat'ed ahead, and
		// a stat here would only add a call before the open.)
		var st unix.Stat_t
		var err error
		xsize := -1
		if pre != nil {
			st, err, xsize = pre.st, pre.err, pre.xsize
		} else {
			err = unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		}
		if err == nil && modeType(st.Mode) == 0 {
			if prev != nil && prev.unchanged(tar.TypeReg, &st, "") {
				a.stats.Unchanged++
				return nil
			}
			if st.Size == 0 {
				if err := a.replaced(full, prev, tar.TypeReg); err != nil {
					return err
				}
				a.noXattrs = xsize == 0
				return a.emit(full, tar.TypeReg, &st, "", -1)
			}
		}
	}
	var fd int
	var err error
	if typ == fs.ModeDir {
		fd, err = openDir(dfd, name)
	} else {
		fd, err = openFile(dfd, name)
	}
	if err == unix.ELOOP || err == unix.ENOTDIR || err == unix.ENXIO {
		// Changed type since it was listed: archive what is there now.
		return a.other(dfd, full, name, prev)
	}
	if err != nil {
		a.report(full, err)
		if prev != nil && errors.Is(err, unix.ENOENT) {
			return a.deleted(full, prev)
		}
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		a.report(full, err)
		return nil
	}
	switch modeType(st.Mode) {
	case 0:
		err = a.regular(fd, full, &st, prev)
	case fs.ModeDir:
		err = a.dir(fd, full, &st, prev)
	default:
		unix.Close(fd)
		return a.other(dfd, full, name, prev)
	}
	unix.Close(fd)
	return err
}

// dir archives the directory open as fd and its subtree.
func (a *archiver) dir(fd int, full string, st *unix.Stat_t, prev *BaseEntry) error {
	if prev != nil && prev.unchanged(tar.TypeDir, st, "") {
		a.stats.Unchanged++
	} else {
		if err := a.replaced(full, prev, tar.TypeDir); err != nil {
			return err
		}
		if err := a.emit(full, tar.TypeDir, st, "", fd); err != nil {
			return err
		}
	}
	return a.children(fd, full)
}

// other archives an entry that is not opened: symlinks, devices, FIFOs.
func (a *archiver) other(dfd int, full, name string, prev *BaseEntry) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		a.report(full, err)
		if prev != nil && errors.Is(err, unix.ENOENT) {
			return a.deleted(full, prev)
		}
		return nil
	}
	var flag byte
	var link string
	switch modeType(st.Mode) {
	case fs.ModeSymlink:
		flag = tar.TypeSymlink
		t, err := a.readlink(dfd, name, st.Size)
		if err != nil {
			a.report(full, err)
			return nil
		}
		link = t
	case fs.ModeDevice | fs.ModeCharDevice:
		flag = tar.TypeChar
	case fs.ModeDevice:
		flag = tar.TypeBlock
	case fs.ModeNamedPipe:
		flag = tar.TypeFifo
	case fs.ModeSocket:
		a.report(full, errors.New("socket skipped"))
		return nil
	case 0, fs.ModeDir:
		// It was something else when listed and is a file or directory
		// now: it is changing under us.
		a.report(full, fmt.Errorf("%w: changed type during the walk, skipped", ErrFileChanged))
		return nil
	default:
		a.report(full, fmt.Errorf("unsupported file type %#o, skipped", st.Mode&unix.S_IFMT))
		return nil
	}
	if prev != nil && prev.unchanged(flag, &st, link) {
		a.stats.Unchanged++
		return nil
	}
	if err := a.replaced(full, prev, flag); err != nil {
		return err
	}
	return a.emit(full, flag, &st, link, -1)
}

func (a *archiver) readlink(dfd int, name string, size int64) (string, error) {
	n := int(size) + 1
	if n < 256 {
		n = 256
	}
	for {
		if len(a.lbuf) < n {
			a.lbuf = make([]byte, n)
		}
		m, err := unix.Readlinkat(dfd, name, a.lbuf)
		if err != nil {
			return "", err
		}
		if m < len(a.lbuf) {
			return string(a.lbuf[:m]), nil
		}
		n = 2 * len(a.lbuf)
	}
}

// regular archives the regular file open as fd.
func (a *archiver) regular(fd int, full string, st *unix.Stat_t, prev *BaseEntry) error {
	if prev != nil && prev.unchanged(tar.TypeReg, st, "") {
		a.stats.Unchanged++
		return nil
	}
	if err := a.replaced(full, prev, tar.TypeReg); err != nil {
		return err
	}
	if mayBeSparse(st) {
		a.sparse = findSparse(fd, st.Size)
	}
	hl, err := a.header(full, tar.TypeReg, st, "", fd)
	m := a.sparse
	a.sparse = nil
	if err == errSkip {
		return nil
	}
	if err != nil {
		return err
	}
	if hl {
		return a.finish()
	}
	size := st.Size
	if m != nil {
		if err := a.sparseData(fd, full, m, a.sparseStored); err != nil {
			return err
		}
		a.stats.Bytes += size
		return a.finish()
	}
	if size > int64(len(a.buf)) {
		_ = unix.Fadvise(fd, 0, 0, unix.FADV_SEQUENTIAL)
	}
	remaining := size
	var rerr error
	grew, probed := false, false
	for remaining > 0 {
		// Ask for one byte more than remains, so that growth is seen
		// without an extra read.
		want := int64(len(a.buf))
		if remaining < want {
			want = remaining + 1
			probed = true
		}
		n, err := unix.Read(fd, a.buf[:want])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			rerr = err
			break
		}
		if n == 0 {
			break
		}
		if int64(n) > remaining {
			n = int(remaining)
			grew = true
		}
		if _, err := a.tw.Write(a.buf[:n]); err != nil {
			return a.writeErr(err)
		}
		remaining -= int64(n)
	}
	if remaining > 0 {
		// Shrank or unreadable: keep the stream valid.
		clear(a.buf)
		for left := remaining; left > 0; {
			n := min(left, int64(len(a.buf)))
			if _, err := a.tw.Write(a.buf[:n]); err != nil {
				return a.writeErr(err)
			}
			left -= n
		}
		if rerr != nil {
			a.report(full, fmt.Errorf("read error after %d of %d bytes, rest padded with zeros: %w", size-remaining, size, rerr))
		} else {
			a.report(full, fmt.Errorf("%w: shrank from %d to %d bytes, padded with zeros", ErrFileChanged, size, size-remaining))
		}
	} else {
		if !probed && !grew {
			// The last read filled the buffer exactly: one more
			// byte tells whether the file grew.
			for {
				n, err := unix.Read(fd, a.buf[:1])
				if err == unix.EINTR {
					continue
				}
				grew = n > 0
				break
			}
		}
		if grew {
			a.report(full, fmt.Errorf("%w: grew beyond %d bytes, truncated", ErrFileChanged, size))
		}
	}
	a.stats.Bytes += size
	return a.finish()
}

func (a *archiver) writeErr(err error) error {
	if a.cw.err != nil {
		return a.cw.err
	}
	return err
}

// emit writes an entry without content.
func (a *archiver) emit(full string, flag byte, st *unix.Stat_t, link string, fd int) error {
	_, err := a.header(full, flag, st, link, fd)
	if err == errSkip {
		return nil
	}
	if err != nil {
		return err
	}
	return a.finish()
}

// header writes the header of an entry. It reports (and returns false, nil)
// a header the tar writer refuses. hardlink is true when the entry was
// written as a hard link to an earlier one.
func (a *archiver) header(full string, flag byte, st *unix.Stat_t, link string, fd int) (hardlink bool, err error) {
	h := &a.hdr
	*h = tar.Header{
		Typeflag: flag,
		Name:     full[1:],
		Linkname: link,
		Mode:     int64(st.Mode & 0o7777),
		Uid:      int(st.Uid),
		Gid:      int(st.Gid),
		Uname:    a.uname(int(st.Uid)),
		Gname:    a.gname(int(st.Gid)),
		ModTime:  time.Unix(st.Mtim.Unix()),
		Format:   tar.FormatPAX,
	}
	if flag == tar.TypeReg {
		h.Size = st.Size
	}
	if flag == tar.TypeChar || flag == tar.TypeBlock {
		h.Devmajor = int64(unix.Major(uint64(st.Rdev)))
		h.Devminor = int64(unix.Minor(uint64(st.Rdev)))
	}
	id := fileID{uint64(st.Dev), uint64(st.Ino)}
	if flag != tar.TypeDir && st.Nlink > 1 {
		if first, ok := a.links[id]; ok {
			h.Typeflag = tar.TypeLink
			h.Linkname = first
			h.Size = 0
			h.Devmajor, h.Devminor = 0, 0
			hardlink = true
		}
	}
	if !hardlink {
		a.xattrs(full, fd)
	}
	a.noXattrs = false
	a.pending = Entry{
		Name:     h.Name,
		Type:     h.Typeflag,
		Size:     h.Size,
		Mode:     h.Mode,
		UID:      h.Uid,
		GID:      h.Gid,
		Uname:    h.Uname,
		Gname:    h.Gname,
		ModTime:  h.ModTime,
		Ctime:    time.Unix(st.Ctim.Unix()),
		Inode:    uint64(st.Ino),
		Dev:      uint64(st.Dev),
		LinkName: h.Linkname,
		Offset:   a.cw.n,
	}
	if a.sparse != nil && !hardlink {
		err = a.writeSparseHeader(h)
	} else {
		err = a.tw.WriteHeader(h)
	}
	if err != nil {
		if a.cw.err != nil {
			return false, a.cw.err
		}
		a.report(full, fmt.Errorf("cannot be archived: %w", err))
		return false, errSkip
	}
	if flag != tar.TypeDir && st.Nlink > 1 && !hardlink {
		a.links[id] = h.Name
	}
	return hardlink, nil
}

// errSkip is returned by header for an entry the tar writer refused; it has
// been reported and is not an error of the archive.
var errSkip = errors.New("entry skipped")

// finish completes the current entry: pads it, counts it and calls OnEntry.
func (a *archiver) finish() error {
	if err := a.tw.Flush(); err != nil {
		return a.writeErr(err)
	}
	e := &a.pending
	a.stats.Entries++
	switch e.Type {
	case tar.TypeReg:
		a.stats.Files++
	case tar.TypeDir:
		a.stats.Dirs++
	case tar.TypeSymlink:
		a.stats.Symlinks++
	case tar.TypeLink:
		a.stats.HardLinks++
	}
	if a.opts.OnEntry != nil {
		a.opts.OnEntry(*e)
	}
	return nil
}

func (a *archiver) uname(uid int) string {
	if n, ok := a.users[uid]; ok {
		return n
	}
	var n string
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		n = u.Username
	}
	a.users[uid] = n
	return n
}

func (a *archiver) gname(gid int) string {
	if n, ok := a.groups[gid]; ok {
		return n
	}
	var n string
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		n = g.Name
	}
	a.groups[gid] = n
	return n
}

// xattrs adds the extended attributes of the entry to a.hdr.PAXRecords. It
// uses the open descriptor fd when there is one, the path otherwise (without
// following a symlink).
func (a *archiver) xattrs(full string, fd int) {
	if a.noXattrs {
		a.noXattrs = false
		return
	}
	if len(a.xbuf) == 0 {
		a.xbuf = make([]byte, 1024)
		a.vbuf = make([]byte, 1024)
	}
	var n int
	var err error
	for {
		if fd >= 0 {
			n, err = unix.Flistxattr(fd, a.xbuf)
		} else {
			n, err = unix.Llistxattr(full, a.xbuf)
		}
		if err == unix.ERANGE {
			var sz int
			if fd >= 0 {
				sz, err = unix.Flistxattr(fd, nil)
			} else {
				sz, err = unix.Llistxattr(full, nil)
			}
			if err == nil {
				a.xbuf = make([]byte, max(sz, 2*len(a.xbuf)))
				continue
			}
		}
		break
	}
	if err != nil {
		if err != unix.ENOTSUP && err != unix.EOPNOTSUPP && err != unix.ENODATA {
			a.report(full, fmt.Errorf("listing extended attributes: %w", err))
		}
		return
	}
	names := a.xbuf[:n]
	for len(names) > 0 {
		i := 0
		for i < len(names) && names[i] != 0 {
			i++
		}
		attr := string(names[:i])
		if i < len(names) {
			i++
		}
		names = names[i:]
		if attr == "" {
			continue
		}
		if strings.Contains(attr, "=") {
			a.report(full, fmt.Errorf("extended attribute %q cannot be stored in a pax record, skipped", attr))
			continue
		}
		v, err := a.getxattr(full, fd, attr)
		if err == unix.ENODATA {
			continue // removed meanwhile
		}
		if err != nil {
			a.report(full, fmt.Errorf("reading extended attribute %q: %w", attr, err))
			continue
		}
		if a.hdr.PAXRecords == nil {
			a.hdr.PAXRecords = map[string]string{}
		}
		a.hdr.PAXRecords["SCHILY.xattr."+attr] = v
	}
}

func (a *archiver) getxattr(full string, fd int, attr string) (string, error) {
	for {
		var n int
		var err error
		if fd >= 0 {
			n, err = unix.Fgetxattr(fd, attr, a.vbuf)
		} else {
			n, err = unix.Lgetxattr(full, attr, a.vbuf)
		}
		if err == unix.ERANGE {
			var sz int
			if fd >= 0 {
				sz, err = unix.Fgetxattr(fd, attr, nil)
			} else {
				sz, err = unix.Lgetxattr(full, attr, nil)
			}
			if err == nil {
				a.vbuf = make([]byte, max(sz, 2*len(a.vbuf)))
				continue
			}
		}
		if err != nil {
			return "", err
		}
		return string(a.vbuf[:n]), nil
	}
}
