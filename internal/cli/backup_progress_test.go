package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"daisy/internal/jobs"
)

// openPty opens a pseudo-terminal of cols columns: the master, read by
// the test, and the terminal (slave) the command draws on.
func openPty(t *testing.T, cols int) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: uint16(cols)}); err != nil {
		t.Fatal(err)
	}
	return master, tty
}

var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// Issue 9, progress on any terminal width: a backup's progress lines (one
// per source, one per media agent), drawn on a terminal of 40 and of 200
// columns, never reach the last column (where a line wraps and the
// redraw goes astray), and at 200 show the whole label and the bytes.
func TestBackupProgressFitsWidth(t *testing.T) {
	for _, cols := range []int{40, 200} {
		master, tty := openPty(t, cols)
		var out bytes.Buffer
		var rd sync.WaitGroup
		rd.Go(func() { _, _ = io.Copy(&out, master) })

		m := &jobs.Monitor{}
		for _, name := range []string{"D1", "documents-of-the-accounts-department"} {
			m.Sources = append(m.Sources, &jobs.SourceProgress{Name: name})
		}
		m.Agents = append(m.Agents, &jobs.AgentProgress{Name: "BMA124", Device: "lto9-drive-in-the-basement-library", Copy: 1})
		g := &globals{stderr: tty, stdout: io.Discard}
		stop := showProgress(g, m)
		for i := 0; i < 10; i++ {
			for _, s := range m.Sources {
				s.Bytes.Add(123 << 20)
				s.Files.Add(1234)
			}
			m.Agents[0].Bytes.Add(200 << 20)
			time.Sleep(40 * time.Millisecond)
		}
		for _, s := range m.Sources {
			s.Done.Store(true)
		}
		m.Agents[0].Done.Store(true)
		time.Sleep(200 * time.Millisecond)
		stop()
		tty.Close() // the reader ends at the terminal's hang-up
		rd.Wait()

		text := out.String()
		var visible []string
		for _, seg := range regexp.MustCompile(`\r|\n|\x1b\[[0-9]*[ABEFGHf]`).Split(text, -1) {
			seg = ansiEscape.ReplaceAllString(seg, "")
			if seg != "" {
				visible = append(visible, seg)
			}
		}
		if len(visible) == 0 {
			t.Fatalf("%d columns: nothing drawn: %q", cols, text)
		}
		for _, v := range visible {
			if n := utf8.RuneCountInString(v); n > cols-1 {
				t.Errorf("%d columns: a line of %d characters: %q", cols, n, v)
			}
		}
		if cols == 200 {
			for _, want := range []string{"documents-of-the-accounts-department", "BMA124", "lto9-drive-in-the-basement-library", humanBytes(10 * 123 << 20), "done"} {
				if !strings.Contains(text, want) {
					t.Errorf("200 columns: no %q in the progress:\n%q", want, text)
				}
			}
		}
	}
}

// The counter line at any width: it fits, and keeps the label's start
// and the bytes as long as there is room for them.
func TestRenderCounterFitsWidth(t *testing.T) {
	for _, label := range []string{"read  D1", "write BMA124→lto9-drive-in-the-basement-library"} {
		for _, width := range []int{1, 5, 12, 40, 80, 200} {
			for _, done := range []bool{false, true} {
				line := renderCounter(label, 30, 5<<30, 123456, 90*time.Second, done, 3, width)
				if n := utf8.RuneCountInString(line); n > max(width-1, 0) {
					t.Errorf("%q at width %d: %d characters: %q", label, width, n, line)
				}
				if width >= 40 && !strings.HasPrefix(line, label[:8]) {
					t.Errorf("%q at width %d: the label's start is cut: %q", label, width, line)
				}
				if width == 200 && (!strings.Contains(line, "5.0 GiB") || !strings.Contains(line, "123456 entries") || !strings.Contains(line, "MB/s")) {
					t.Errorf("at width 200: %q lacks bytes, entries or rate", line)
				}
			}
		}
	}
}
