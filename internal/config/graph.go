package config

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// width is the number of terminal columns of s; every character Graph
// draws is one column wide.
func width(s string) int { return utf8.RuneCountInString(s) }

func pad(s string, w int) string {
	if n := width(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

// graphColumn is one column of the text graph: a title and cells by row.
type graphColumn struct {
	title string
	cells map[int]string
	width int
	rows  int // first free row
}

func (gc *graphColumn) put(row int, s string) {
	if gc.cells == nil {
		gc.cells = map[int]string{}
	}
	gc.cells[row] = s
	if w := width(s); w > gc.width {
		gc.width = w
	}
	if row+1 > gc.rows {
		gc.rows = row + 1
	}
}

// bufferLine is what a box shows for one buffer: "B2 ← D2" in the backup
// group, "B2 ← BMA124.B2" in mirror groups.
func bufferLine(b Buffer) string {
	switch {
	case b.Follows != "":
		return b.Name + " ← " + b.Follows
	case b.Source != "":
		return b.Name + " ← " + b.Source
	}
	return b.Name
}

// deviceLine is what Graph writes under a media agent's box.
func deviceLine(a MediaAgent) string {
	s := "▼ " + a.Device
	if a.Pool != "" {
		s += " (pool " + a.Pool + ")"
	}
	return s
}

// graphBox is a media agent's box in a text graph: a line per buffer, and
// its device below.
type graphBox struct {
	name    string
	lines   []string // one per buffer
	follows []string // per buffer: "MEDIA_AGENT.BUFFER" it follows, or ""
	foot    string   // the device line
}

// graphTop is the first row below the titles of the columns.
const graphTop = 2

// placeBoxes draws the boxes of group i in cols[i], each box level with the
// box that its first chained buffer follows when there is room, and returns
// the row of each box.
func placeBoxes(cols []*graphColumn, groups [][]graphBox) [][]int {
	rows := make([][]int, len(groups))
	agentRow := map[string]int{}
	for gi, boxes := range groups {
		gc := cols[gi]
		inner := 0
		for _, bx := range boxes {
			inner = max(inner, width(bx.name)+2)
			for _, l := range bx.lines {
				inner = max(inner, width(l))
			}
		}
		for _, bx := range boxes {
			row := gc.rows
			if row > graphTop {
				row++ // a blank line between boxes
			}
			for _, f := range bx.follows {
				if up, _, ok := strings.Cut(f, "."); ok {
					if r, ok := agentRow[up]; ok && r > row {
						row = r
					}
					break
				}
			}
			agentRow[bx.name] = row
			rows[gi] = append(rows[gi], row)
			gc.put(row, "┌─ "+bx.name+" "+strings.Repeat("─", inner-width(bx.name)-1)+"┐")
			for i, l := range bx.lines {
				gc.put(row+1+i, "│ "+pad(l, inner)+" │")
			}
			gc.put(row+1+len(bx.lines), "└"+strings.Repeat("─", inner+2)+"┘")
			gc.put(row+2+len(bx.lines), bx.foot)
		}
	}
	return rows
}

// writeGrid prints the columns side by side under their titles; gap(i) is
// the space before column i > 0.
func writeGrid(sb *strings.Builder, cols []*graphColumn, gap func(i int) string) {
	rows := 0
	for _, gc := range cols {
		gc.width = max(gc.width, width(gc.title))
		rows = max(rows, gc.rows)
	}
	line := func(cell func(gc *graphColumn) string) {
		var l strings.Builder
		for i, gc := range cols {
			if i > 0 {
				l.WriteString(gap(i))
			}
			l.WriteString(pad(cell(gc), gc.width))
		}
		sb.WriteString(strings.TrimRight(l.String(), " "))
		sb.WriteString("\n")
	}
	line(func(gc *graphColumn) string { return gc.title })
	line(func(gc *graphColumn) string { return strings.Repeat("─", width(gc.title)) })
	for r := graphTop; r < rows; r++ {
		line(func(gc *graphColumn) string { return gc.cells[r] })
	}
}

// agentBoxes are the boxes of a group of media agents.
func agentBoxes(agents []MediaAgent) []graphBox {
	boxes := make([]graphBox, 0, len(agents))
	for _, a := range agents {
		bx := graphBox{name: a.Name, foot: deviceLine(a)}
		for _, b := range a.Buffers {
			bx.lines = append(bx.lines, bufferLine(b))
			bx.follows = append(bx.follows, b.Follows)
		}
		boxes = append(boxes, bx)
	}
	return boxes
}

// Graph draws the topology as text in the shape of the patent's figure 2:
// the sources, the backup group and each mirror level as columns from left
// to right; each media agent a box holding one line per buffer, with its
// device below it; sources point at the buffers that read them. A summary
// below lists the chain of every source with its number of copies.
func Graph(c *Config) string {
	levels := append([][]MediaAgent{c.BackupGroup}, c.MirrorGroups...)
	cols := make([]*graphColumn, len(levels)+1)
	cols[0] = &graphColumn{title: "sources"}
	for i := range levels {
		title := "backup group"
		if i > 0 {
			title = fmt.Sprintf("mirror group %d", i)
		}
		cols[i+1] = &graphColumn{title: title}
	}
	for _, gc := range cols {
		gc.rows = graphTop
	}

	// Place the agents column by column, each beside the agent it follows
	// when there is room.
	groups := make([][]graphBox, len(levels))
	for li, agents := range levels {
		groups[li] = agentBoxes(agents)
	}
	rows := placeBoxes(cols[1:], groups)
	for i, a := range c.BackupGroup {
		for k, b := range a.Buffers {
			if b.Source != "" {
				cols[0].put(rows[0][i]+1+k, b.Source)
			}
		}
	}

	// Sources: an arrow from each source to the buffer that reads it; the
	// sources that no buffer reads are listed below.
	src := cols[0]
	backed := map[string]bool{}
	for _, s := range src.cells {
		backed[s] = true
	}
	arrow := width(src.title)
	for s := range backed {
		arrow = max(arrow, width(s)+4)
	}
	for row, s := range src.cells {
		src.cells[row] = s + " " + strings.Repeat("─", arrow-width(s)-2) + "▶"
	}
	src.width = arrow
	next := src.rows
	for _, gc := range cols {
		next = max(next, gc.rows)
	}
	if next > graphTop {
		next++
	}
	for _, s := range c.Sources {
		if !backed[s.Name] {
			src.put(next, s.Name)
			next++
		}
	}

	// Print the grid.
	var sb strings.Builder
	writeGrid(&sb, cols, func(i int) string {
		if i == 1 {
			return " "
		}
		return "    "
	})

	// Summary: the chain of every source.
	sb.WriteString("\ncopies per source:\n")
	nameWidth := 0
	for _, s := range c.Sources {
		nameWidth = max(nameWidth, width(s.Name))
	}
	for _, s := range c.Sources {
		name := pad(s.Name+":", nameWidth+1)
		chain := c.Chain(s.Name)
		if len(chain) == 0 {
			fmt.Fprintf(&sb, "  %s (not backed up)\n", name)
			continue
		}
		ids := make([]string, len(chain))
		for i, l := range chain {
			ids[i] = l.Buffer.ID(l.Agent.Name)
		}
		copies := "copies"
		if len(chain) == 1 {
			copies = "copy"
		}
		fmt.Fprintf(&sb, "  %s %s (%d %s)\n", name, strings.Join(ids, " → "), len(chain), copies)
	}
	sb.WriteString(graphHosts(c))
	return sb.String()
}

// dotID quotes s as a Graphviz ID.
func dotID(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// dotHTML escapes s for an HTML-like label.
func dotHTML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "\n", "<BR/>").Replace(s)
}

// Dot draws the topology as a Graphviz graph ("dot -Tsvg"): a cluster per
// group, left to right; a box per media agent holding its buffers, with
// the box of its device below it; sources on the left with arrows to their
// buffers, and chain arrows from buffer to buffer.
func Dot(c *Config) string {
	var sb strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) }
	dotHeader(w)

	w("  subgraph cluster_sources {\n    label=\"sources\"; style=\"rounded,dashed\";\n")
	for _, s := range c.Sources {
		label := s.Name
		if s.Client != "" {
			label += "\n" + s.Client
		}
		w("    %s [shape=folder, label=%s];\n", dotID("source "+s.Name), dotID(label))
	}
	w("  }\n")

	levels := append([][]MediaAgent{c.BackupGroup}, c.MirrorGroups...)
	for li, agents := range levels {
		title := "backup group"
		if li > 0 {
			title = fmt.Sprintf("mirror group %d", li)
		}
		w("  subgraph cluster_level%d {\n    label=%s; style=rounded;\n", li, dotID(title))
		for _, a := range agents {
			bufs := make([]dotBuffer, len(a.Buffers))
			for i, b := range a.Buffers {
				bufs[i] = dotBuffer{b.Name, bufferLine(b)}
			}
			device := a.Device
			if h := c.HostOf(a); h != "" {
				device += " on " + h
			}
			w("    %s [shape=plain, label=%s];\n", dotID("agent "+a.Name), dotAgentLabel(a.Name, bufs, "▼", device, a.Pool))
		}
		w("  }\n")
	}

	for li, agents := range levels {
		for _, a := range agents {
			for _, b := range a.Buffers {
				head := dotID("agent "+a.Name) + ":" + dotID(portName(b.Name)) + ":w"
				switch {
				case li == 0 && b.Source != "":
					w("  %s -> %s;\n", dotID("source "+b.Source), head)
				case b.Follows != "":
					w("  %s\n", dotChainEdge(b.Follows, head))
				}
			}
		}
	}
	w("}\n")
	return sb.String()
}

// dotHeader starts a Graphviz graph.
func dotHeader(w func(format string, args ...any)) {
	w("digraph daisy {\n")
	w("  graph [rankdir=LR, fontname=\"Helvetica\", nodesep=0.25, ranksep=0.9, newrank=true];\n")
	w("  node [fontname=\"Helvetica\", fontsize=11];\n")
	w("  edge [fontname=\"Helvetica\", fontsize=9];\n")
}

// dotBuffer is a buffer's line in a media agent's node.
type dotBuffer struct{ name, label string }

// dotAgentLabel is the HTML-like label of a media agent's node: its box
// holding its buffers, and below it the box of its device, marked with
// arrow (▼ written to, ▲ read from).
func dotAgentLabel(name string, bufs []dotBuffer, arrow, device, pool string) string {
	var t strings.Builder
	t.WriteString(`<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0">`)
	t.WriteString(`<TR><TD><TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="4" STYLE="ROUNDED">`)
	fmt.Fprintf(&t, `<TR><TD BGCOLOR="#e8e8e8"><B>%s</B></TD></TR>`, dotHTML(name))
	for _, b := range bufs {
		fmt.Fprintf(&t, `<TR><TD PORT="%s" BORDER="1" SIDES="T">%s</TD></TR>`, dotHTML(portName(b.name)), dotHTML(b.label))
	}
	t.WriteString(`</TABLE></TD></TR>`)
	if device != "" {
		label := arrow + " " + dotHTML(device)
		if pool != "" {
			label += `<BR/><FONT POINT-SIZE="9">pool ` + dotHTML(pool) + `</FONT>`
		}
		t.WriteString(`<TR><TD HEIGHT="6"></TD></TR>`)
		fmt.Fprintf(&t, `<TR><TD><TABLE BORDER="1" CELLBORDER="0" CELLPADDING="3" BGCOLOR="#fff4cc"><TR><TD>%s</TD></TR></TABLE></TD></TR>`, label)
	}
	t.WriteString(`</TABLE>>`)
	return t.String()
}

// dotChainEdge is the arrow from the buffer follows ("MEDIA_AGENT.BUFFER")
// to head.
func dotChainEdge(follows, head string) string {
	up, buf, _ := strings.Cut(follows, ".")
	return fmt.Sprintf("%s:%s:e -> %s [color=\"#1f77b4\", penwidth=1.5];", dotID("agent "+up), dotID(portName(buf)), head)
}

// portName is the record port of a buffer; it cannot clash with the
// compass points (n, e, s, w ...) that Graphviz also accepts after ':'.
func portName(buffer string) string { return "buf_" + buffer }
