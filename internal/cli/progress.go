package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"daisy/internal/jobs"
)

// progressRefresh is how often a job's progress line is redrawn.
const progressRefresh = 150 * time.Millisecond

// jobProgress returns the callback a restore, verify or copy job calls
// with its Progress, and the function that stops drawing it (call it when
// the job returned). Without a terminal on stderr (or with --no-progress,
// --json) the callback is nil and stop does nothing.
func jobProgress(g *globals, label string) (func(*jobs.Progress), func()) {
	if !g.interactive() {
		return nil, func() {}
	}
	f := g.stderr.(*os.File)
	width := termWidth(f)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var once sync.Once
	start := func(p *jobs.Progress) {
		wg.Go(func() { drawProgress(f, width, label, p, progressRefresh, stop) })
	}
	return start, func() {
		once.Do(func() { close(stop) })
		wg.Wait()
	}
}

// termWidth returns the function that asks the terminal f for its width
// (80 when it cannot say), called before each redraw so that a resized
// terminal is followed.
func termWidth(f *os.File) func() int {
	return func() int {
		w, _, err := term.GetSize(int(f.Fd()))
		if err != nil || w <= 0 {
			return 80
		}
		return w
	}
}

// drawProgress redraws one line on w (a terminal) until stop is closed or
// the job ended, then draws it a last time and ends the line. width is
// asked before each line, so a resized terminal is followed.
func drawProgress(w io.Writer, width func() int, label string, p *jobs.Progress, every time.Duration, stop <-chan struct{}) {
	began := time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		final := false
		select {
		case <-t.C:
			final = p.Ended.Load()
		case <-stop:
			final = true
		}
		// \r back to the line's start, the line, then erase what an
		// earlier, longer line left (ESC [ K).
		fmt.Fprintf(w, "\r%s\x1b[K", renderProgress(label, p.Done.Load(), p.Total.Load(), time.Since(began), width()))
		if final {
			fmt.Fprintln(w)
			return
		}
	}
}

// renderProgress formats one progress line of at most width-1 characters
// (a line that fills the last column wraps on many terminals): the label,
// a bar, the percentage, bytes done of the total, the rate and the
// estimated time left. What does not fit is left out, least useful first
// (rate, bytes, bar); the label is cut last.
func renderProgress(label string, done, total int64, elapsed time.Duration, width int) string {
	room := width - 1
	if room <= 0 {
		return ""
	}
	frac := 1.0
	if total > 0 {
		frac = min(max(float64(done)/float64(total), 0), 1)
	}
	pct := fmt.Sprintf("%3.0f%%", 100*frac)
	eta := "ETA " + etaString(done, total, elapsed)
	bytes := humanBytes(done) + "/" + humanBytes(total)
	rate := ""
	if s := elapsed.Seconds(); s >= 0.5 {
		rate = fmt.Sprintf("%.0f MB/s", float64(done)/s/1e6)
	}
	// Candidates from the fullest to the barest; the bar takes the room
	// the others leave, and is dropped below minBar cells before the time
	// left is.
	const minBar = 10
	type candidate struct {
		bar   bool
		parts []string
	}
	for _, c := range []candidate{
		{true, []string{pct, bytes, rate, eta}}, {true, []string{pct, bytes, eta}}, {true, []string{pct, eta}},
		{false, []string{pct, bytes, eta}}, {false, []string{pct, eta}}, {false, []string{pct}},
	} {
		tail := joinNonEmpty(c.parts)
		fixed := utf8.RuneCountInString(label) + 1 + utf8.RuneCountInString(tail)
		if !c.bar {
			if fixed <= room {
				return label + " " + tail
			}
			continue
		}
		if cells := room - fixed - 3; cells >= minBar { // " [" and "]"
			return label + " [" + bar(frac, min(cells, 50)) + "] " + tail
		}
	}
	// Narrower than the label and the percentage: cut the label.
	line := label + " " + pct
	if utf8.RuneCountInString(line) > room {
		r := []rune(line)
		line = string(r[:room])
	}
	return line
}

func joinNonEmpty(parts []string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, "  ")
}

// bar is a bar of cells cells, frac of them filled.
func bar(frac float64, cells int) string {
	n := int(frac * float64(cells))
	if n >= cells {
		return strings.Repeat("=", cells)
	}
	return strings.Repeat("=", n) + ">" + strings.Repeat(" ", cells-n-1)
}

// etaString estimates the time left at the average rate so far.
func etaString(done, total int64, elapsed time.Duration) string {
	switch {
	case done >= total:
		return "0s"
	case done <= 0 || elapsed < time.Second:
		return "--"
	}
	left := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
	switch {
	case left >= 100*time.Hour:
		return ">99h"
	case left >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(left.Hours()), int(left.Minutes())%60)
	case left >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int(left.Minutes()), int(left.Seconds())%60)
	}
	// Rounded up: a job not done is never said to need 0s.
	return fmt.Sprintf("%ds", int((left+time.Second-1)/time.Second))
}

// counterLine is one line of a backup's progress: what a source read or a
// media agent wrote. A backup's totals are not known before it ends, so
// its lines count up (bytes, entries, rate) instead of showing a bar.
type counterLine struct {
	label string
	bytes func() int64
	files func() int64 // nil: no entry count
	done  func() bool
}

// drawCounters redraws lines on w (a terminal), one per counter, until
// stop is closed, then draws them a last time; the cursor is left below
// them. Each line fits width()-1 columns, so that none wraps and moving
// back up by the number of lines (ESC [ n A) finds the first again.
func drawCounters(w io.Writer, width func() int, lines []counterLine, every time.Duration, stop <-chan struct{}) {
	if len(lines) == 0 {
		<-stop
		return
	}
	pad := 0
	for _, l := range lines {
		pad = max(pad, utf8.RuneCountInString(l.label))
	}
	began := time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for frame := 0; ; frame++ {
		final := false
		select {
		case <-t.C:
		case <-stop:
			final = true
		}
		var b strings.Builder
		if frame > 0 {
			fmt.Fprintf(&b, "\x1b[%dA", len(lines))
		}
		wd := width()
		for _, l := range lines {
			files := int64(-1)
			if l.files != nil {
				files = l.files()
			}
			fmt.Fprintf(&b, "\r%s\x1b[K\n", renderCounter(l.label, pad, l.bytes(), files, time.Since(began), final || l.done(), frame, wd))
		}
		io.WriteString(w, b.String())
		if final {
			return
		}
	}
}

// renderCounter formats one counter line of at most width-1 characters:
// the label (padded to pad columns when there is room, so that the lines
// align), the bytes, the entries (files >= 0), the rate and a spinner, or
// "done". What does not fit is left out, least useful first (rate,
// entries, padding); the label is cut last.
func renderCounter(label string, pad int, bytes, files int64, elapsed time.Duration, done bool, frame, width int) string {
	room := width - 1
	if room <= 0 {
		return ""
	}
	size := humanBytes(bytes)
	entries := ""
	if files >= 0 {
		entries = fmt.Sprintf("%d entries", files)
	}
	rate := ""
	if s := elapsed.Seconds(); s >= 0.5 {
		rate = fmt.Sprintf("%.0f MB/s", float64(bytes)/s/1e6)
	}
	status := "done"
	if !done {
		status = string(`|/-\`[frame%4])
	}
	padded := label
	if n := utf8.RuneCountInString(label); n < pad {
		padded += strings.Repeat(" ", pad-n)
	}
	for _, parts := range [][]string{
		{size, entries, rate, status}, {size, entries, status}, {size, status}, {size},
	} {
		tail := joinNonEmpty(parts)
		for _, l := range []string{padded, label} {
			if utf8.RuneCountInString(l)+2+utf8.RuneCountInString(tail) <= room {
				return l + "  " + tail
			}
		}
	}
	// Narrower than the label and the bytes: cut the label.
	r := []rune(label + " " + size)
	return string(r[:min(len(r), room)])
}
