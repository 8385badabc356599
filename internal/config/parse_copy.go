package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// now is the time against which "since: 7d" is resolved; tests replace it.
var now = time.Now

// Kinds of named things of copy jobs, for meta.incomplete.
const (
	kindCopyJob = "copy job"
	kindRMA     = "restore media agent"
)

// What decode read of one copy job, with positions.
type copyJobMeta struct {
	name pos // of the name, else of the entry
	// sub holds the incomplete marks of the job's media agents and buffers:
	// follows references inside a job are checked against that job only.
	sub     *meta
	restore []rmaMeta
	stages  [][]agentMeta
}

type rmaMeta struct {
	at, name, device, pool pos
	buffers                []rmaBufferMeta
}

type rmaBufferMeta struct {
	at, name, size pos
	sel            selectMeta
}

type selectMeta struct {
	at                                                     pos // of the key select
	source, client, object, level, since, until, notInPool pos
}

// Examples offered by messages.
const (
	rmaExample       = "{name: rma0, device: tape0, buffers: [{name: B1, select: {all: true}}]}"
	stageExample     = "{media_agents: [{name: bma1, device: tape1, buffers: [{name: B1, follows: rma0.B1}]}]}"
	copyJobExample   = "{name: refresh, restore_group: [" + rmaExample + "], copy_groups: [" + stageExample + "]}"
	criteriaList     = `source, client, object, level, since, until, not_in_pool, or "all: true" for every object`
	selectOnlyInRMAs = "only buffers of the restore group have select"
)

// selectKeys are the keys of a selection; criteria those that select.
var (
	selectKeys = []string{"source", "client", "object", "level", "since", "until", "latest", "not_in_pool", "all"}
	criteria   = []string{"source", "client", "object", "level", "since", "until", "not_in_pool"}
	levels     = []string{LevelFull, LevelIncremental, LevelDifferential}
)

// objectPrefix is the form of an object ID or a prefix of one: hex digits
// and dashes, as "daisy ls objects" prints IDs.
var objectPrefix = regexp.MustCompile(`^[0-9a-f][0-9a-f-]*$`)

// dateOnly is the form of a date without a time.
var dateOnly = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// stageName is "the restore group" (stage 0) or "copy stage k".
func stageName(stage int) string {
	if stage == 0 {
		return "the restore group"
	}
	return fmt.Sprintf("copy stage %d", stage)
}

// decodeCopyJobs reads copy_jobs.
func (d *decoder) decodeCopyJobs(c *Config, m *meta, top *mapping) {
	items, at, st := top.list("copy_jobs", "copy_jobs: ["+copyJobExample+"]")
	if st == listBad {
		m.incomplete[kindCopyJob] = true
		return
	}
	for i, it := range items {
		im := d.item(m, it, at[i], "copy_jobs", kindCopyJob, i, "- "+copyJobExample)
		if im == nil {
			continue
		}
		im.only("name", "restore_group", "copy_groups")
		var j CopyJob
		jm := copyJobMeta{sub: &meta{incomplete: map[string]bool{}}}
		j.Name, jm.name = im.name(m, kindCopyJob, nameWithDots)
		if !jm.name.valid() {
			jm.name = im.at
		}
		j.RestoreGroup, jm.restore = d.restoreGroup(c, jm.sub, im, jm.name)
		j.CopyGroups, jm.stages = d.copyStages(c, jm.sub, im, jm.name)
		c.CopyJobs = append(c.CopyJobs, j)
		m.copyJobs = append(m.copyJobs, jm)
	}
}

// restoreGroup reads the restore_group of a copy job.
func (d *decoder) restoreGroup(c *Config, sub *meta, job *mapping, jobName pos) ([]RestoreAgent, []rmaMeta) {
	items, at, st := job.list("restore_group", "restore_group: ["+rmaExample+"]")
	switch {
	case st == listBad:
		sub.incomplete[kindRMA], sub.incomplete[kindBuffer] = true, true
	case len(items) == 0 && !job.misspelled("restore_group"):
		d.errorf(job.keyPos("restore_group", jobName), "%s has no restore media agents; add at least one under restore_group, e.g. restore_group: [%s]", job.label, rmaExample)
	}
	example := "{name: B1, select: {source: " + c.exampleSource() + "}}"
	var agents []RestoreAgent
	var metas []rmaMeta
	for i, it := range items {
		im := d.item(sub, it, at[i], "restore_group of "+job.label, kindRMA, i, "- "+rmaExample)
		if im == nil {
			sub.incomplete[kindBuffer] = true
			continue
		}
		im.only("name", "device", "pool", "buffers")
		var a RestoreAgent
		am := rmaMeta{at: im.at}
		a.Name, am.name = im.name(sub, kindRMA, nameNoDots)
		if !am.name.valid() {
			am.name = im.at
		}
		a.Device, am.device, _ = im.str("device")
		if im.missing("device") && !im.misspelled("device") {
			d.errorf(im.keyPos("device", am.name), "%s has no device; add \"device: NAME\" naming the device that reads the volumes", im.label)
		}
		a.Pool, am.pool, _ = im.str("pool")
		bufItems, bufAt, st := im.list("buffers", "buffers: ["+example+"]")
		switch {
		case st == listBad:
			sub.incomplete[kindBuffer] = true
		case len(bufItems) == 0 && !im.misspelled("buffers"):
			d.errorf(im.keyPos("buffers", am.name), "%s has no buffers; add at least one under \"buffers:\" saying which objects go into it, e.g. buffers: [%s], or remove the media agent", im.label, example)
		}
		for j, bt := range bufItems {
			bm := d.item(sub, bt, bufAt[j], "buffers of "+im.label, kindBuffer, j, "- "+example)
			if bm == nil {
				continue
			}
			if a.Name != "" {
				bm.label = strings.Replace(bm.label, "buffer ", "buffer "+a.Name+".", 1)
			}
			misplaced := d.restoreBufferKeys(bm)
			bm.only("name", "size", "select")
			b := RestoreBuffer{Size: c.Defaults.BufferSize, Select: Selection{Latest: true}}
			bmeta := rmaBufferMeta{at: bm.at}
			b.Name, bmeta.name = bm.name(sub, kindBuffer, nameNoDots)
			if !bmeta.name.valid() {
				bmeta.name = bm.at
			}
			if v, at, ok := bm.size("size"); ok && d.checkBufferSize("size of "+bm.label, v, at) {
				b.Size, bmeta.size = v, at
			}
			switch f := bm.get("select"); {
			case f == nil || f.value == nil:
				if !bm.misspelled("select") && !misplaced {
					d.errorf(bm.keyPos("select", bmeta.name), "%s has no select; add e.g. \"select: {source: %s}\" saying which objects go into it", bm.label, c.exampleSource())
				}
			default:
				sm := d.mapping(f.value)
				if sm == nil {
					d.errorf(f.vpos, "select of %s must be a mapping, not %s; write e.g. select: {source: %s}", bm.label, kindOf(f.value), c.exampleSource())
					break
				}
				sm.label = "select of " + bm.label
				b.Select, bmeta.sel = d.selection(sm, f.key)
			}
			a.Buffers = append(a.Buffers, b)
			am.buffers = append(am.buffers, bmeta)
		}
		agents = append(agents, a)
		metas = append(metas, am)
	}
	return agents, metas
}

// restoreBufferKeys reports the keys of a restore buffer that belong
// elsewhere: follows, and criteria written beside select instead of under
// it. It reports whether there were criteria.
func (d *decoder) restoreBufferKeys(bm *mapping) bool {
	misplaced := false
	for _, k := range bm.order {
		f := bm.fields[k]
		switch {
		case k == "follows":
			d.errorf(f.key, "%s is in the restore group and cannot follow another buffer: its media agent fills it from the volumes it reads; say which objects go into it under select, e.g. select: {all: true}", bm.label)
		case contains(selectKeys, k):
			v, ok := scalarText(f.value)
			if b, isBool := f.value.(*ast.BoolNode); isBool {
				v, ok = fmt.Sprint(b.Value), true
			}
			if !ok || v == "" {
				v = "..."
			}
			d.errorf(f.key, "%s of %s must go under select; write select: {%s: %s}", k, bm.label, k, v)
			misplaced = true
		default:
			continue
		}
		bm.handle(k)
	}
	return misplaced
}

// stageBufferKeys reports source and select in a buffer of a copy stage:
// the objects are chosen in the restore group.
func (d *decoder) stageBufferKeys(bm *mapping, stage int) {
	for _, k := range []string{"source", "select"} {
		f := bm.fields[k]
		if f == nil {
			continue
		}
		if k == "source" {
			d.errorf(f.key, "%s is in copy stage %d and cannot read a source; replace source with \"follows: MEDIA_AGENT.BUFFER\" naming a buffer of %s (%s)", bm.label, stage, stageName(stage-1), selectOnlyInRMAs)
		} else {
			d.errorf(f.key, "%s is in copy stage %d and cannot select objects: %s; give this buffer \"follows: MEDIA_AGENT.BUFFER\" naming a buffer of %s", bm.label, stage, selectOnlyInRMAs, stageName(stage-1))
		}
		bm.handle(k)
	}
}

// selection reads the select mapping of a restore buffer; key is where
// "select" is written.
func (d *decoder) selection(sm *mapping, key pos) (Selection, selectMeta) {
	sm.only(selectKeys...)
	s := Selection{Latest: true}
	sel := selectMeta{at: key}
	name := func(k, what string) (string, pos) {
		v, at, ok := sm.str(k)
		if ok && strings.TrimSpace(v) == "" {
			d.errorf(at, "%s is empty; name %s, or remove the key", sm.of(k), what)
			return "", at
		}
		return v, at
	}
	s.Source, sel.source = name("source", "a source")
	s.Client, sel.client = name("client", "a client")
	s.NotInPool, sel.notInPool = name("not_in_pool", "a pool")

	if v, at, ok := sm.str("object"); ok {
		sel.object = at
		id := strings.ToLower(strings.TrimSpace(v))
		digits := len(strings.ReplaceAll(id, "-", ""))
		if !objectPrefix.MatchString(id) || digits < 4 || digits > 32 || len(id) > 36 {
			d.errorf(at, "%s %q is not an object ID or a prefix of one; write at least 4 hex digits of the ID as \"daisy ls objects\" shows it, e.g. 0190a3c2", sm.of("object"), v)
		} else {
			s.Object = id
		}
	}
	if v, at, ok := sm.str("level"); ok {
		sel.level = at
		if contains(levels, v) {
			s.Level = v
		} else {
			hint := ""
			if sg := suggest(v, levels); sg != "" {
				hint = fmt.Sprintf("did you mean %q? ", sg)
			}
			d.errorf(at, "%s %q is not a backup level; %suse full, incremental or differential", sm.of("level"), v, hint)
		}
	}
	t := now()
	var sinceText, untilText string
	if v, at, ok := sm.str("since"); ok {
		sel.since, sinceText = at, v
		s.Since, s.SinceAgo, ok = d.when(sm, "since", v, at, t)
		if !ok {
			sinceText = ""
		}
	}
	if v, at, ok := sm.str("until"); ok {
		sel.until, untilText = at, v
		s.Until, s.UntilAgo, ok = d.when(sm, "until", v, at, t)
		if !ok {
			untilText = ""
		}
	}
	if sinceText != "" && untilText != "" && !s.Since.Before(s.Until) {
		d.errorf(sel.until, "%s: since %s is not before until %s, so nothing matches; since is the older bound, e.g. since: 7d, until: 1d selects the backups from 7 to 1 days ago", sm.label, sinceText, untilText)
	}
	if v, _, ok := sm.boolean("latest"); ok {
		s.Latest = v
	}
	allAt, allBad := pos{}, false
	if v, at, ok := sm.boolean("all"); ok {
		s.All, allAt = v, at
	} else {
		allBad = at.valid()
	}

	var given []string
	typo := sm.misspelled("all")
	for _, k := range criteria {
		if !sm.missing(k) {
			given = append(given, k)
		}
		typo = typo || sm.misspelled(k)
	}
	switch {
	case s.All:
		s.Latest = false
		if !sm.missing("latest") {
			given = append(given, "latest")
		}
		if len(given) > 0 {
			d.errorf(allAt, "all: true in %s selects every object and cannot be combined with %s; remove all, or remove %s", sm.label, strings.Join(given, ", "), strings.Join(given, ", "))
		}
	case !s.All && len(given) == 0 && !typo && !allBad:
		hint := ""
		if !sm.missing("latest") {
			hint = " (latest only narrows what the criteria select)"
		}
		d.errorf(key, "%s has no criterion, so it selects nothing; add at least one of %s%s", sm.label, criteriaList, hint)
	}
	return s, sel
}

// when reads since or until: a duration back from now, an RFC 3339 time or
// a date (midnight, local time).
func (d *decoder) when(sm *mapping, key, v string, at pos, t time.Time) (time.Time, time.Duration, bool) {
	s := strings.TrimSpace(v)
	const hint = "or write a date (2026-11-01) or an RFC 3339 time (2026-11-01T22:00:00Z)"
	switch {
	case dateOnly.MatchString(s):
		day, err := time.ParseInLocation(time.DateOnly, s, time.Local)
		if err != nil {
			d.errorf(at, "%s %q is not a valid date; write YYYY-MM-DD, e.g. 2026-11-01", sm.of(key), v)
			return time.Time{}, 0, false
		}
		return day, 0, true
	case len(s) > 10 && dateOnly.MatchString(s[:10]):
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			d.errorf(at, "%s %q is not an RFC 3339 time; write e.g. 2026-11-01T22:00:00Z or 2026-11-01T23:00:00+01:00, or a date, 2026-11-01", sm.of(key), v)
			return time.Time{}, 0, false
		}
		return tm, 0, true
	}
	ago, err := ParseDuration(s)
	if err != nil {
		d.errorf(at, "%s: %v, %s", sm.of(key), err, hint)
		return time.Time{}, 0, false
	}
	if ago <= 0 {
		d.errorf(at, "%s must be longer than 0; write e.g. 7d for the backups of the last 7 days, or remove the key", sm.of(key))
		return time.Time{}, 0, false
	}
	return t.Add(-ago), ago, true
}

// copyStages reads the copy_groups of a copy job.
func (d *decoder) copyStages(c *Config, sub *meta, job *mapping, jobName pos) ([][]MediaAgent, [][]agentMeta) {
	items, at, st := job.list("copy_groups", "copy_groups: ["+stageExample+"]")
	switch {
	case st == listBad:
		sub.incomplete[kindAgent], sub.incomplete[kindBuffer] = true, true
	case len(items) == 0 && !job.misspelled("copy_groups"):
		d.errorf(job.keyPos("copy_groups", jobName), "%s has no copy stages; add at least one under copy_groups, e.g. copy_groups: [%s]", job.label, stageExample)
	}
	var stages [][]MediaAgent
	var metas [][]agentMeta
	for i, it := range items {
		stage := i + 1
		lm := d.mapping(it)
		var agents []MediaAgent
		var am []agentMeta
		switch {
		case it == nil:
			d.errorf(at[i], "copy stage %d has no media agents; add at least one under media_agents, or remove the stage (the stages after it move up)", stage)
		case lm == nil:
			d.errorf(at[i], "copy stage %d must be a mapping with the key media_agents, not %s; write e.g. - %s", stage, kindOf(it), stageExample)
			sub.incomplete[kindAgent], sub.incomplete[kindBuffer] = true, true
		default:
			lm.label = fmt.Sprintf("copy stage %d", stage)
			lm.only("media_agents")
			agItems, agAt, st := lm.list("media_agents", "media_agents: [{name: bma1, device: tape1, buffers: [{name: B1, follows: rma0.B1}]}]")
			switch {
			case st == listBad:
				sub.incomplete[kindAgent], sub.incomplete[kindBuffer] = true, true
			case len(agItems) == 0 && !lm.misspelled("media_agents"):
				d.errorf(lm.keyPos("media_agents", lm.at), "copy stage %d has no media agents; add at least one under media_agents, or remove the stage (the stages after it move up)", stage)
			}
			agents, am = d.agents(c, sub, agItems, agAt, fmt.Sprintf("media_agents of copy stage %d", stage), stage, RoleCopy)
		}
		stages = append(stages, agents)
		metas = append(metas, am)
	}
	return stages, metas
}

// exampleSource is a source name for hints: the first source, or "home".
func (c *Config) exampleSource() string {
	for _, s := range c.Sources {
		if validName(s.Name, nameWithDots) {
			return s.Name
		}
	}
	return "home"
}
