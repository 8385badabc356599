package config

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// systemDirs hold the kernel's files, not data: no catalog or pool may be
// under them.
var systemDirs = []string{"/dev", "/proc", "/sys"}

// underSystemDir returns the system directory path is in, or "".
func underSystemDir(path string) string {
	for _, s := range systemDirs {
		if path == s || strings.HasPrefix(path, s+"/") {
			return s
		}
	}
	return ""
}

// checkPaths checks the catalog file and the pool directories: none under
// /dev, /proc or /sys, a catalog that exists is a regular file, a pool
// directory that exists is a directory, and no two pools share one
// (each pool locks its directory, so the second would always fail as "in
// use by another daisy process").
func (d *decoder) checkPaths(c *Config, m *meta) {
	cat := c.Catalog.SQLite
	if s := underSystemDir(cat); s != "" {
		d.errorf(m.catalog, "catalog.sqlite %s is under %s, which holds the kernel's files; name a database file on a filesystem, e.g. %s", cat, s, DefaultCatalog)
	} else if st, err := os.Stat(cat); errors.Is(err, syscall.ENOTDIR) {
		d.errorf(m.catalog, "catalog.sqlite %s is below a file, not a directory; name a database file in a directory, e.g. %s", cat, DefaultCatalog)
	} else if err == nil && !st.Mode().IsRegular() {
		what := "not a regular file"
		if st.IsDir() {
			what = "a directory"
		}
		d.errorf(m.catalog, "catalog.sqlite %s is %s; name the database file (it is made if missing), e.g. %s", cat, what, DefaultCatalog)
	}
	type poolAt struct {
		name string
		at   pos
	}
	byDir := map[string]poolAt{}
	for i, p := range c.Pools {
		at := m.pools[i].dir
		if !at.valid() {
			at = m.pools[i].name
		}
		if p.Directory == "" {
			continue
		}
		if s := underSystemDir(p.Directory); s != "" {
			d.errorf(at, "directory %s of pool %s is under %s, which holds the kernel's files; name a directory on a filesystem, e.g. state/volumes/%s", p.Directory, show(p.Name), s, p.Name)
			continue
		}
		if st, err := os.Stat(p.Directory); err == nil && !st.IsDir() {
			d.errorf(at, "directory %s of pool %s is not a directory; name a directory (it is made if missing)", p.Directory, show(p.Name))
			continue
		}
		if prev, dup := byDir[p.Directory]; dup && prev.name != p.Name {
			d.errorf(at, "pool %s has the directory %s of pool %s (%s:%d:%d); every pool needs a directory of its own", show(p.Name), p.Directory, show(prev.name), d.file, prev.at.line, prev.at.col)
			continue
		}
		byDir[p.Directory] = poolAt{p.Name, at}
	}
}

// machineMemory is physicalMemory; tests of other rules replace it.
var machineMemory = physicalMemory

// MachineMemory returns this machine's memory in bytes and where the
// figure comes from; 0 when it cannot be told.
func MachineMemory() (int64, string) { return machineMemory() }

// HostBufferBytes returns the bytes of the buffers that the media agents
// on host (a media host's name; "" for the local host) fill together in a
// backup, with their IDs: the memory a backup takes on that host.
func (c *Config) HostBufferBytes(host string) (int64, []string) {
	var total int64
	var ids []string
	for _, a := range c.MediaAgents() {
		if c.HostOf(a) != host {
			continue
		}
		for _, b := range a.Buffers {
			total += b.Size
			ids = append(ids, b.ID(a.Name)+" "+FormatSize(b.Size))
		}
	}
	return total, ids
}

// physicalMemory returns the machine's memory in bytes and where the
// figure comes from; 0 when it cannot be told.
func physicalMemory() (int64, string) {
	if f, err := os.Open("/proc/meminfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// MemTotal:       16318412 kB
			fs := strings.Fields(sc.Text())
			if len(fs) == 3 && fs[0] == "MemTotal:" && fs[2] == "kB" {
				if n, err := strconv.ParseInt(fs[1], 10, 64); err == nil && n > 0 {
					return n * 1024, "MemTotal in /proc/meminfo"
				}
			}
		}
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil && si.Totalram > 0 {
		return int64(si.Totalram) * int64(max(si.Unit, 1)), "sysinfo"
	}
	return 0, ""
}

// sizedBuffer is a buffer for checkMemory: its ID, size and where the
// size is set.
type sizedBuffer struct {
	id       string
	size     int64
	at, name pos
}

// checkMemory checks that the buffers a job fills together fit in the
// machine's memory: those of the backup (the backup group and every
// mirror group), and those of each copy job (its restore group and its
// stages). A total above it could never be allocated.
func (d *decoder) checkMemory(c *Config, m *meta) {
	mem, from := machineMemory()
	if mem <= 0 {
		return
	}
	var backup []sizedBuffer
	// Only the buffers of this host count against its memory: those of
	// a media agent whose device is on a media host are that host's, and
	// daisy media-agent checks them against its own memory when it gets
	// the job (HostBufferBytes).
	addAgents := func(bufs []sizedBuffer, agents []MediaAgent, metas []agentMeta) []sizedBuffer {
		for i, a := range agents {
			if c.HostOf(a) != "" {
				continue
			}
			for j, b := range a.Buffers {
				if i >= len(metas) || j >= len(metas[i].buffers) {
					continue // not read whole (reported already)
				}
				bm := metas[i].buffers[j]
				bufs = append(bufs, sizedBuffer{b.ID(a.Name), b.Size, bm.size, bm.name})
			}
		}
		return bufs
	}
	backup = addAgents(backup, c.BackupGroup, m.backup)
	for level, agents := range c.MirrorGroups {
		if level >= len(m.mirror) {
			break
		}
		backup = addAgents(backup, agents, m.mirror[level])
	}
	d.memoryOf("the backup", backup, m, mem, from)
	for k, j := range c.CopyJobs {
		if k >= len(m.copyJobs) {
			break
		}
		jm := m.copyJobs[k]
		var bufs []sizedBuffer
		for i, a := range j.RestoreGroup {
			if dv, _ := c.Device(a.Device); dv.Host != "" {
				continue
			}
			for l, b := range a.Buffers {
				if i >= len(jm.restore) || l >= len(jm.restore[i].buffers) {
					continue
				}
				bm := jm.restore[i].buffers[l]
				bufs = append(bufs, sizedBuffer{b.ID(a.Name), b.Size, bm.size, bm.name})
			}
		}
		for stage, agents := range j.CopyGroups {
			if stage >= len(jm.stages) {
				break
			}
			bufs = addAgents(bufs, agents, jm.stages[stage])
		}
		d.memoryOf("copy job "+show(j.Name), bufs, m, mem, from)
	}
}

// memoryOf reports bufs of what when their total is above mem, at the
// size of the largest one.
func (d *decoder) memoryOf(what string, bufs []sizedBuffer, m *meta, mem int64, from string) {
	var total, largest int64
	var at pos
	var parts []string
	for _, b := range bufs {
		total += b.size
		parts = append(parts, fmt.Sprintf("%s %s", b.id, FormatSize(b.size)))
		if b.size > largest {
			largest = b.size
			switch {
			case b.at.valid():
				at = b.at
			case m.defaultBufferSize.valid():
				at = m.defaultBufferSize
			default:
				at = b.name
			}
		}
	}
	if total <= mem {
		return
	}
	if len(parts) > 12 {
		parts = append(parts[:12], fmt.Sprintf("and %d more", len(parts)-12))
	}
	d.errorf(at, "the buffers of %s total %s (%s), more than this machine's memory of %s (%s); make them smaller", what, approxSize(total), strings.Join(parts, ", "), approxSize(mem), from)
}

// approxSize writes n for a message about memory: 23.5GiB, 640MiB.
func approxSize(n int64) string {
	switch {
	case n >= GiB:
		return strconv.FormatFloat(float64(n)/float64(GiB), 'f', 1, 64) + "GiB"
	case n >= MiB:
		return strconv.FormatInt(n/MiB, 10) + "MiB"
	}
	return FormatSize(n)
}

// MissingSourcePaths returns a warning for each source path that does not
// exist on this host (an unmounted disk, a typing error), for check to
// print, at the position of the path in the file: a backup of such a
// source fails unless the source says may_be_absent, which the warning
// then mentions.
func (c *Config) MissingSourcePaths() []*Error {
	var out []*Error
	for _, s := range c.Sources {
		for i, p := range s.Paths {
			_, err := os.Lstat(p)
			if err == nil {
				continue
			}
			w := &Error{File: c.name, Line: 1, Column: 1}
			if w.File == "" {
				w.File = c.File
			}
			if at := c.pathAt[s.Name]; i < len(at) && at[i].valid() {
				w.Line, w.Column = at[i].line, at[i].col
			}
			switch {
			case !errors.Is(err, os.ErrNotExist):
				w.Msg = fmt.Sprintf("source %s: path %s cannot be examined on this host: %v", s.Name, p, err)
			case s.MayBeAbsent:
				w.Msg = fmt.Sprintf("source %s: path %s does not exist on this host (may_be_absent: a backup records it as absent)", s.Name, p)
			default:
				w.Msg = fmt.Sprintf("source %s: path %s does not exist on this host; a backup of %s fails until it does (mount it, or add may_be_absent: true)", s.Name, p, s.Name)
			}
			out = append(out, w)
		}
	}
	return out
}
