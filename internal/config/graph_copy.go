package config

import (
	"fmt"
	"strings"
)

// restoreLine is what a restore media agent's box shows for one buffer:
// "B1 ← select source D1".
func restoreLine(b RestoreBuffer) string {
	return b.Name + " ← select " + b.Select.String()
}

// restoreDeviceLine is what GraphCopyJob writes under a restore media
// agent's box: the device it reads, and the pool it prefers.
func restoreDeviceLine(a RestoreAgent) string {
	s := "▲ " + a.Device
	if a.Pool != "" {
		s += " (pool " + a.Pool + ")"
	}
	return s
}

// GraphCopyJob draws a copy job as text in the shape of the patent's
// figure 5: the restore group and each copy stage ("copy group k") as
// columns from left to right; each media agent a box holding one line per
// buffer, a restore buffer with its selection, a copy-stage buffer with
// the buffer it follows; below each box its device (▲ read, ▼ written)
// and pool. A summary below lists the chain behind every restore buffer
// with the number of new copies it makes. c is the configuration j
// belongs to.
func GraphCopyJob(c *Config, j *CopyJob) string {
	if j == nil {
		j = &CopyJob{}
	}
	cols := make([]*graphColumn, len(j.CopyGroups)+1)
	cols[0] = &graphColumn{title: "restore group", rows: graphTop}
	for k := range j.CopyGroups {
		cols[k+1] = &graphColumn{title: fmt.Sprintf("copy group %d", k+1), rows: graphTop}
	}
	groups := make([][]graphBox, len(cols))
	for _, a := range j.RestoreGroup {
		bx := graphBox{name: a.Name, foot: restoreDeviceLine(a)}
		for _, b := range a.Buffers {
			bx.lines = append(bx.lines, restoreLine(b))
			bx.follows = append(bx.follows, "")
		}
		groups[0] = append(groups[0], bx)
	}
	for k, stage := range j.CopyGroups {
		groups[k+1] = agentBoxes(stage)
	}
	placeBoxes(cols, groups)

	var sb strings.Builder
	writeGrid(&sb, cols, func(int) string { return "    " })

	// Summary: the chain behind every restore buffer.
	sb.WriteString("\nnew copies per restore buffer:\n")
	for _, a := range j.RestoreGroup {
		for _, b := range a.Buffers {
			id := b.ID(a.Name)
			chain := j.Chain(id)
			ids := []string{id + " (" + b.Select.String() + ")"}
			for _, l := range chain {
				ids = append(ids, l.Buffer.ID(l.Agent.Name))
			}
			switch len(chain) {
			case 0:
				fmt.Fprintf(&sb, "  %s (no new copy: no copy stage follows it)\n", ids[0])
			case 1:
				fmt.Fprintf(&sb, "  %s (1 new copy)\n", strings.Join(ids, " → "))
			default:
				fmt.Fprintf(&sb, "  %s (%d new copies)\n", strings.Join(ids, " → "), len(chain))
			}
		}
	}
	return sb.String()
}

// DotCopyJob draws a copy job as a Graphviz graph ("dot -Tsvg"), with the
// conventions of [Dot]: a cluster for the restore group and one per copy
// stage, left to right; a box per media agent holding its buffers, with
// the box of its device below it; chain arrows from buffer to buffer.
func DotCopyJob(c *Config, j *CopyJob) string {
	if j == nil {
		j = &CopyJob{}
	}
	var sb strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) }
	dotHeader(w)
	w("  label=%s; labelloc=t;\n", dotID("copy job "+j.Name))

	w("  subgraph cluster_restore {\n    label=\"restore group\"; style=rounded;\n")
	for _, a := range j.RestoreGroup {
		bufs := make([]dotBuffer, len(a.Buffers))
		for i, b := range a.Buffers {
			bufs[i] = dotBuffer{b.Name, restoreLine(b)}
		}
		w("    %s [shape=plain, label=%s];\n", dotID("agent "+a.Name), dotAgentLabel(a.Name, bufs, "▲", a.Device, a.Pool))
	}
	w("  }\n")
	for k, stage := range j.CopyGroups {
		w("  subgraph cluster_stage%d {\n    label=%s; style=rounded;\n", k+1, dotID(fmt.Sprintf("copy group %d", k+1)))
		for _, a := range stage {
			bufs := make([]dotBuffer, len(a.Buffers))
			for i, b := range a.Buffers {
				bufs[i] = dotBuffer{b.Name, bufferLine(b)}
			}
			w("    %s [shape=plain, label=%s];\n", dotID("agent "+a.Name), dotAgentLabel(a.Name, bufs, "▼", a.Device, a.Pool))
		}
		w("  }\n")
	}
	for _, stage := range j.CopyGroups {
		for _, a := range stage {
			for _, b := range a.Buffers {
				if b.Follows != "" {
					w("  %s\n", dotChainEdge(b.Follows, dotID("agent "+a.Name)+":"+dotID(portName(b.Name))+":w"))
				}
			}
		}
	}
	w("}\n")
	return sb.String()
}
