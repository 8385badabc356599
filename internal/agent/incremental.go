package agent

import (
	"archive/tar"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Incremental archives. With Options.Base set, Archive compares each entry
// it walks with the base tree (the tree of the backup it is based on, as
// the catalog recorded it) and leaves out those that did not change: a
// regular file, symlink, device or FIFO whose type, size, mtime, ctime,
// inode, mode, owner and link target are all as recorded is not written,
// and a directory that did not change is walked but its own entry is not
// written. Any change of content or metadata changes ctime, so the test
// holds even against tools that restore mtimes.
//
// Paths of the base that the walk does not find any more (deleted, renamed
// away, or now excluded) are written as deletion entries: pax global
// headers named DeletedName whose record DeletedKey holds the paths, NUL
// separated (a path cannot hold a NUL). A vanished directory gets one for
// itself and one for every path below it in the base, and so does a
// directory that became something else, so that every deletion names the
// one path it removes. Plain tar tools ignore global headers (GNU tar warns
// about the unknown keyword); daisy's restore and scan read them.

// DeletedKey is the pax record of a deletion entry; DeletedName its name.
const (
	DeletedKey  = "DAISY.deleted"
	DeletedName = "DAISY.deleted"
)

// TypeDeleted is the Entry.Type of a deletion entry. It is not a tar type
// flag: the entry is a pax global header in the stream.
const TypeDeleted byte = 'W'

// maxDeletedRecord bounds the paths of one deletion entry, well below the
// 1 MiB that tar readers accept for a pax header.
const maxDeletedRecord = 256 << 10

// BaseEntry is an entry of the base tree, with what change detection
// compares.
type BaseEntry struct {
	Type         byte // tar type flag as recorded ('0' regular, '5' directory, '1' hard link ...)
	Size, Mode   int64
	UID, GID     int
	MTime, CTime time.Time
	Inode        uint64
	Link         string // symlink target
}

// Base is the tree an incremental archive is compared with.
type Base interface {
	// Dir returns the entries of the base directly in directory dir (an
	// absolute, clean path), by base name. A directory the base does not
	// have returns an empty map.
	Dir(dir string) (map[string]BaseEntry, error)
	// Under calls fn for every path strictly below dir in the base.
	Under(dir string, fn func(path string)) error
	// Roots returns the top entries of the base: the paths its source
	// had, each with its entry.
	Roots() (map[string]BaseEntry, error)
}

// droppedRoots writes the deletion of the base's top entries that no path
// of this archive covers any more (a path taken out of the source), with
// everything below them.
func (a *archiver) droppedRoots(walked []string) error {
	if a.base == nil {
		return nil
	}
	roots, err := a.base.Roots()
	if err != nil {
		return fmt.Errorf("agent: base roots: %w", err)
	}
	names := make([]string, 0, len(roots))
	for p := range roots {
		names = append(names, p)
	}
	slices.Sort(names)
	for _, p := range names {
		if covered(walked, p) || covers(walked, p) {
			continue
		}
		e := roots[p]
		if err := a.deleted(p, &e); err != nil {
			return err
		}
	}
	return nil
}

// covers reports whether a walked path lies below p: then p's entry is
// not in the archive, but part of its tree is, and p stays.
func covers(walked []string, p string) bool {
	for _, w := range walked {
		if strings.HasPrefix(w, p+"/") || p == "/" {
			return true
		}
	}
	return false
}

// unchanged reports whether an entry of type flag with stat st and link
// target link is as the base recorded it.
func (b *BaseEntry) unchanged(flag byte, st *unix.Stat_t, link string) bool {
	typ, blink := b.Type, b.Link
	if typ == tar.TypeLink {
		// A hard link's entry records neither the size nor a target of
		// its own; the inode, its ctime and mtime tell a change.
		typ, blink = tar.TypeReg, ""
	} else if flag == tar.TypeReg && b.Size != st.Size {
		return false
	}
	return typ == flag &&
		b.Mode == int64(st.Mode&0o7777) &&
		b.UID == int(st.Uid) && b.GID == int(st.Gid) &&
		b.Inode == uint64(st.Ino) &&
		b.MTime.Equal(time.Unix(st.Mtim.Unix())) &&
		b.CTime.Equal(time.Unix(st.Ctim.Unix())) &&
		blink == link
}

// replaced writes the deletions a changed entry implies: when a directory
// of the base became something else, everything below it is gone.
func (a *archiver) replaced(full string, prev *BaseEntry, flag byte) error {
	if prev == nil || prev.Type != tar.TypeDir || flag == tar.TypeDir {
		return nil
	}
	d := a.deletions()
	if err := d.under(full); err != nil {
		return err
	}
	return d.flush()
}

// deleted writes the deletion of path full, which the base has as prev,
// and of everything below it.
func (a *archiver) deleted(full string, prev *BaseEntry) error {
	d := a.deletions()
	d.add(full)
	if prev.Type == tar.TypeDir {
		if err := d.under(full); err != nil {
			return err
		}
	}
	return d.flush()
}

// deletedIn writes the deletion of the entries of directory dir that the
// base has and the walk did not meet.
func (a *archiver) deletedIn(dir string, gone map[string]BaseEntry) error {
	if len(gone) == 0 {
		return nil
	}
	names := make([]string, 0, len(gone))
	for n := range gone {
		names = append(names, n)
	}
	slices.Sort(names)
	d := a.deletions()
	for _, n := range names {
		full := dir + "/" + n
		if dir == "/" {
			full = "/" + n
		}
		if len(a.done) > 0 && covered(a.done, full) {
			continue // archived as an earlier root
		}
		d.add(full)
		if e := gone[n]; e.Type == tar.TypeDir {
			if err := d.under(full); err != nil {
				return err
			}
		}
	}
	return d.flush()
}

// deletionWriter gathers deleted paths into deletion entries and writes
// each entry as soon as it is full (maxDeletedRecord), so that deleting a
// directory of a million files holds one entry's paths, not the million.
type deletionWriter struct {
	a     *archiver
	names []string // archive names of the entry being gathered
	size  int
	err   error
}

func (a *archiver) deletions() *deletionWriter { return &deletionWriter{a: a} }

// add gathers the deletion of p (absolute).
func (d *deletionWriter) add(p string) {
	if d.err != nil {
		return
	}
	name := strings.TrimPrefix(p, "/")
	if len(d.names) > 0 && d.size+len(name)+1 > maxDeletedRecord {
		d.err = d.a.writeDeleted(d.names)
		d.names, d.size = d.names[:0], 0
	}
	d.names = append(d.names, name)
	d.size += len(name) + 1
}

// under gathers the deletion of every path of the base below dir.
func (d *deletionWriter) under(dir string) error {
	if err := d.a.base.Under(dir, d.add); err != nil {
		return fmt.Errorf("agent: base below %s: %w", dir, err)
	}
	return d.err
}

// flush writes what is gathered.
func (d *deletionWriter) flush() error {
	if d.err == nil && len(d.names) > 0 {
		d.err = d.a.writeDeleted(d.names)
		d.names, d.size = d.names[:0], 0
	}
	return d.err
}

// writeDeleted writes one deletion entry (a pax global header) for names
// (archive names).
func (a *archiver) writeDeleted(names []string) error {
	off := a.cw.n
	h := &tar.Header{
		Typeflag:   tar.TypeXGlobalHeader,
		Name:       DeletedName,
		PAXRecords: map[string]string{DeletedKey: strings.Join(names, "\x00")},
		Format:     tar.FormatPAX,
	}
	if err := a.tw.WriteHeader(h); err != nil {
		return a.writeErr(err)
	}
	// Pad now, so that the next entry's offset is where its header is.
	if err := a.tw.Flush(); err != nil {
		return a.writeErr(err)
	}
	for _, name := range names {
		a.stats.Deleted++
		if a.opts.OnEntry != nil {
			a.opts.OnEntry(Entry{Name: name, Type: TypeDeleted, Offset: off})
		}
	}
	return nil
}

// DeletedPaths returns the paths (archive names, without leading "/") a
// deletion entry removes, and whether hdr is one.
func DeletedPaths(hdr *tar.Header) ([]string, bool) {
	if hdr.Typeflag != tar.TypeXGlobalHeader {
		return nil, false
	}
	v, ok := hdr.PAXRecords[DeletedKey]
	if !ok {
		return nil, false
	}
	if v == "" {
		return nil, true
	}
	return strings.Split(v, "\x00"), true
}
