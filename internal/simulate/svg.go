package simulate

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// WriteSVG draws each drive's rate over the run, one panel per drive that
// wrote: the rate on tape (filled), the rate the media agent fed it (a
// line), and the drive's minimum streaming speed and native speed (dashed).
// The run must have been made with Options.Trace.
func WriteSVG(w io.Writer, r *Result, title string) error {
	const (
		width, left, right = 900.0, 64.0, 16.0
		panelH, top, gap   = 170.0, 48.0, 58.0
	)
	var drives []DriveResult
	for _, d := range r.Drives {
		if d.Trace != nil && d.Stats.Bytes > 0 {
			drives = append(drives, d)
		}
	}
	height := top + float64(len(drives))*(panelH+gap) + 8
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(b, `<text x="%.0f" y="22" font-size="14" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
	fmt.Fprintf(b, `<text x="%.0f" y="38" fill="#555">blue: rate on tape; orange: rate the media agent fed; dashed: minimum streaming speed, native; x: seconds (virtual)</text>`+"\n", left)
	plotW := width - left - right
	for k, d := range drives {
		y0 := top + float64(k)*(panelH+gap) + 20
		tr := d.Trace
		n := max(len(tr.Tape), len(tr.Host))
		span := math.Max(float64(n)*tr.Step, 1)
		ymax := d.Model.Native * 1.1
		for _, v := range tr.Host {
			ymax = math.Max(ymax, v/tr.Step)
		}
		ymax = niceCeil(ymax / 1e6)
		x := func(t float64) float64 { return left + t/span*plotW }
		y := func(rate float64) float64 { return y0 + panelH - rate/1e6/ymax*panelH }
		s := d.Stats
		head := fmt.Sprintf("%s (%s, %s): %.1f%% streaming, %d backhitches, window %.0fs", d.Device, d.MediaAgent, modelName(d), 100*s.StreamingShare, s.Backhitches, s.Window)
		if d.ShoeShining {
			head += " — SHOE-SHINING"
		}
		fmt.Fprintf(b, `<text x="%.0f" y="%.1f" font-weight="bold">%s</text>`+"\n", left, y0-8, html.EscapeString(head))
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", left, y0, plotW, panelH)
		// Axes: rate ticks and time ticks.
		for _, v := range ticks(ymax) {
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#555">%g</text>`+"\n", left-4, y(v*1e6)+4, v)
		}
		fmt.Fprintf(b, `<text x="12" y="%.1f" fill="#555" transform="rotate(-90 12 %.1f)" text-anchor="middle">MB/s</text>`+"\n", y0+panelH/2, y0+panelH/2)
		for _, t := range ticks(span) {
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%g</text>`+"\n", x(t), y0+panelH+14, t)
		}
		// Tape rate as an area, step by step.
		var pts strings.Builder
		fmt.Fprintf(&pts, "%.1f,%.1f", x(0), y(0))
		for i, v := range tr.Tape {
			fmt.Fprintf(&pts, " %.1f,%.1f %.1f,%.1f", x(float64(i)*tr.Step), y(v/tr.Step), x(float64(i+1)*tr.Step), y(v/tr.Step))
		}
		fmt.Fprintf(&pts, " %.1f,%.1f", x(float64(len(tr.Tape))*tr.Step), y(0))
		fmt.Fprintf(b, `<polygon points="%s" fill="#4a7fc1" fill-opacity="0.75" stroke="none"/>`+"\n", pts.String())
		pts.Reset()
		for i, v := range tr.Host {
			if i > 0 {
				pts.WriteByte(' ')
			}
			fmt.Fprintf(&pts, "%.1f,%.1f", x((float64(i)+0.5)*tr.Step), y(v/tr.Step))
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="#e07b00" stroke-width="1"/>`+"\n", pts.String())
		for _, ref := range []struct {
			v    float64
			name string
		}{{d.Model.MinStream, "min stream"}, {d.Model.Native, "native"}} {
			fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c00" stroke-dasharray="5,4"/>`+"\n", left, y(ref.v), left+plotW, y(ref.v))
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#c00">%s %.0f</text>`+"\n", left+plotW-4, y(ref.v)-3, ref.name, ref.v/1e6)
		}
	}
	fmt.Fprintln(b, "</svg>")
	return b.Flush()
}

func modelName(d DriveResult) string {
	if d.Model.Preset != "" {
		return d.Model.Preset
	}
	return "custom model"
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// ticks returns about five round values from 0 to max.
func ticks(maxV float64) []float64 {
	step := niceCeil(maxV / 5)
	var out []float64
	for v := 0.0; v <= maxV+step/1e6; v += step {
		out = append(out, v)
	}
	return out
}
