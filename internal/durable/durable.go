// Package durable makes changes to directories survive a power loss. A
// file's fsync makes its data durable, not its name: the directory entry
// of a new (or renamed) file is durable only once the directory itself is
// synced. daisy syncs the parent directory of everything it creates and
// depends on (volume files, pool directories, the catalog and its
// directory) before the catalog records it, since the catalog
// (synchronous=FULL) must never name a file whose entry a crash can take
// away.
package durable

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// SyncDir fsyncs the directory dir: entries created, renamed or removed in
// it before the call survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	observe(dir)
	return nil
}

// SyncParent fsyncs the directory holding path, after path was created or
// renamed into it.
func SyncParent(path string) error { return SyncDir(filepath.Dir(path)) }

// MkdirAll is os.MkdirAll that makes what it created durable: each new
// directory's parent is synced, the deepest first upwards, once the whole
// path exists.
func MkdirAll(dir string, perm fs.FileMode) error {
	dir = filepath.Clean(dir)
	// The directories missing now, outermost last.
	var missing []string
	for p := dir; ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
		missing = append(missing, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	if err := os.MkdirAll(dir, perm); err != nil {
		return err
	}
	for _, p := range missing {
		if err := SyncParent(p); err != nil {
			return err
		}
	}
	return nil
}

// Rename renames oldpath to newpath and syncs the directories of both.
func Rename(oldpath, newpath string) error {
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	if err := SyncParent(newpath); err != nil {
		return err
	}
	if filepath.Dir(oldpath) != filepath.Dir(newpath) {
		return SyncParent(oldpath)
	}
	return nil
}

// Observers of SyncDir, for tests that check a directory is synced.
var (
	observersMu sync.Mutex
	observers   = map[int]func(dir string){}
	nextObs     int
)

// Observe calls f with the directory of every later SyncDir call that
// succeeded, until the returned function is called. It is meant for tests:
// a test that cannot cut the power can still see that a directory was
// synced, and when. f must not call Observe.
func Observe(f func(dir string)) (stop func()) {
	observersMu.Lock()
	defer observersMu.Unlock()
	n := nextObs
	nextObs++
	observers[n] = f
	return func() {
		observersMu.Lock()
		defer observersMu.Unlock()
		delete(observers, n)
	}
}

func observe(dir string) {
	observersMu.Lock()
	defer observersMu.Unlock()
	for _, f := range observers {
		f(dir)
	}
}
