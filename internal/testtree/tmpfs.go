package testtree

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// MountTmpfs mounts a tmpfs of the given size (as mount's size= option,
// e.g. "24m") on a fresh directory and unmounts it when the test ends. It
// needs root: without root the test is skipped, unless it runs in CI
// (CI set), where it fails.
func MountTmpfs(t testing.TB, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "" {
			t.Skip("mounting a tmpfs needs root")
		}
		t.Fatal("CI runs as root, but this test is not root: it cannot mount its tmpfs")
	}
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Fatalf("mount a tmpfs of %s on %s: %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// ResizeTmpfs changes the size of a tmpfs mounted by MountTmpfs.
func ResizeTmpfs(t testing.TB, dir, size string) {
	t.Helper()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_REMOUNT, "size="+size+",mode=0700"); err != nil {
		t.Fatalf("remount %s with size %s: %v", dir, size, err)
	}
}
