package config

import (
	"strings"
	"time"
)

// RoleCopy is the role of the media agents of a copy job's copy stages.
const RoleCopy = "copy"

// Backup levels, as a selection names them.
const (
	LevelFull         = "full"
	LevelIncremental  = "incremental"
	LevelDifferential = "differential"
)

// CopyJob reads existing copies back through the restore media agents of
// its restore group and writes new copies through the backup media agents
// of its copy stages, in one read pass (figure 5 of the patent). A copy job
// runs alone: its devices may also serve the backup topology or other copy
// jobs.
type CopyJob struct {
	Name         string
	RestoreGroup []RestoreAgent
	// CopyGroups holds the copy stages: index 0 is stage 1. Their media
	// agents have Role RoleCopy and Level = the stage (1..n); the buffers of
	// stage 1 follow buffers of the restore group, those of stage k follow
	// buffers of stage k-1.
	CopyGroups [][]MediaAgent
}

// RestoreAgent is a restore media agent (RMA): it reads volumes on its
// device and splits what it reads into objects, putting each selected
// object into the buffer whose selection it matches.
type RestoreAgent struct {
	Name    string
	Device  string
	Pool    string // read the copies that live in this pool; "" = no preference (the lowest-numbered good copy)
	Buffers []RestoreBuffer
}

// RestoreBuffer is a buffer of a restore media agent and the objects that
// go into it.
type RestoreBuffer struct {
	Name   string
	Size   int64 // bytes
	Select Selection
}

// ID is the buffer's name qualified by its restore media agent, e.g.
// "RMA150.B1".
func (b RestoreBuffer) ID(agent string) string { return agent + "." + b.Name }

// Selection says which complete objects go into a restore buffer. An
// object matches when it matches every criterion that is set; a valid
// selection has at least one criterion, or All alone. Of the matching
// objects, Latest keeps only the newest one per source. Which buffer gets
// an object that matches the selections of several buffers of one restore
// media agent is for the job to decide.
type Selection struct {
	Source string // objects of this source
	Client string // objects of this client's sources
	Object string // an object ID or a prefix of one, lower case
	Level  string // LevelFull, LevelIncremental or LevelDifferential

	// Since and Until bound the time the backup started, both included;
	// zero means unbounded. The file writes an RFC 3339 time, a date
	// (midnight local time) or a duration back from now ("7d"); a duration
	// is resolved against the time of Load and kept in SinceAgo or UntilAgo
	// (0 otherwise), so that a long-running server can re-resolve it with
	// Resolve.
	Since, Until       time.Time
	SinceAgo, UntilAgo time.Duration

	Latest    bool   // only the newest matching object per source; true unless the file says "latest: false" or sets All
	NotInPool string // only objects with no good copy in this pool yet
	All       bool   // every object: set alone, with Latest false
}

// Resolve returns s with the durations written in the file ("since: 7d")
// resolved against now; times written as such stay as they are.
func (s Selection) Resolve(now time.Time) Selection {
	if s.SinceAgo > 0 {
		s.Since = now.Add(-s.SinceAgo)
	}
	if s.UntilAgo > 0 {
		s.Until = now.Add(-s.UntilAgo)
	}
	return s
}

// String is the short form of the selection, as the graphs show it, e.g.
// "source D1", "client web1, level full, since 7d", "all",
// "source D1, every object" ("every object": Latest is off).
func (s Selection) String() string {
	if s.All {
		return "all"
	}
	var parts []string
	add := func(what, v string) {
		if v != "" {
			parts = append(parts, what+" "+v)
		}
	}
	add("source", s.Source)
	add("client", s.Client)
	add("object", s.Object)
	add("level", s.Level)
	add("since", formatWhen(s.Since, s.SinceAgo))
	add("until", formatWhen(s.Until, s.UntilAgo))
	add("not in pool", s.NotInPool)
	if len(parts) == 0 {
		parts = append(parts, "nothing")
	}
	if !s.Latest {
		parts = append(parts, "every object")
	}
	return strings.Join(parts, ", ")
}

// formatWhen writes a bound of a selection as the file would: a duration,
// a date for midnight local time, else an RFC 3339 time; "" when unbounded.
func formatWhen(t time.Time, ago time.Duration) string {
	switch {
	case ago > 0:
		return FormatDuration(ago)
	case t.IsZero():
		return ""
	case t.Location() == time.Local && t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0:
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339Nano)
}

// CopyJob returns the copy job with this name.
func (c *Config) CopyJob(name string) (*CopyJob, bool) {
	for i := range c.CopyJobs {
		if c.CopyJobs[i].Name == name {
			return &c.CopyJobs[i], true
		}
	}
	return nil, false
}

// MediaAgents returns the media agents of the copy stages: stage 1, then
// stage 2 and so on. The restore media agents are in RestoreGroup.
func (j *CopyJob) MediaAgents() []MediaAgent {
	var out []MediaAgent
	for _, stage := range j.CopyGroups {
		out = append(out, stage...)
	}
	return out
}

// RestoreBuffer returns the restore buffer with this ID ("RMA.BUFFER") and
// its restore media agent.
func (j *CopyJob) RestoreBuffer(id string) (RestoreAgent, RestoreBuffer, bool) {
	for _, a := range j.RestoreGroup {
		for _, b := range a.Buffers {
			if b.ID(a.Name) == id {
				return a, b, true
			}
		}
	}
	return RestoreAgent{}, RestoreBuffer{}, false
}

// Chain returns the copy-stage buffers that follow a restore buffer: the
// buffer of stage 1 that follows it, the buffer of stage 2 that follows
// that one, and so on. ChainLink.Copy is the stage (1..n) here: the copy
// numbers of the new copies depend on the copies each object already has,
// and the job decides them. A restore buffer that does not exist, or that
// no buffer follows, has no chain (nil).
func (j *CopyJob) Chain(rmaBufferID string) []ChainLink {
	if _, _, ok := j.RestoreBuffer(rmaBufferID); !ok {
		return nil
	}
	return follow(rmaBufferID, j.CopyGroups, 1)
}
