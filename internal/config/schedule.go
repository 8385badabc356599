package config

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // CRON_TZ=Europe/Paris works on hosts without a zoneinfo database

	"github.com/robfig/cron/v3"
)

// Jobs a schedule starts.
const (
	JobBackup = "backup"
	JobCopy   = "copy"
	JobVerify = "verify"
	JobPrune  = "prune"
)

// scheduleJobs are the jobs a schedule may start, in the order messages list them.
var scheduleJobs = []string{JobBackup, JobCopy, JobVerify, JobPrune}

// Schedule is one entry of "schedules:": a job that daisy server starts by
// itself at the times of a cron line.
type Schedule struct {
	Name string
	// Cron is the cron line as written: 5 fields (minute hour
	// day-of-month month day-of-week), or 6 with a leading seconds field,
	// or a descriptor (@hourly, @daily, @midnight, @weekly, @monthly,
	// @yearly), optionally after "CRON_TZ=Zone/Name " (else the server's
	// local time zone). ParseCron reads it.
	Cron string
	// Job is JobBackup, JobCopy, JobVerify or JobPrune.
	Job string
	// Level is the level of a backup: LevelFull, LevelIncremental (the
	// default) or LevelDifferential; "" for the other jobs.
	Level string
	// Sources are the sources a backup or a verify covers; nil: a backup
	// covers every source of the backup group, a verify every copy.
	Sources []string
	// CopyJob names the copy job (one of Config.CopyJobs) a copy runs.
	CopyJob string
	// Reclaim makes a prune also give back the space of recyclable vtape
	// volumes (daisy prune --reclaim).
	Reclaim bool
}

// What returns what the schedule's job covers, for listings:
// "incremental of home, etc", "full of all sources", "copy job refresh",
// "verify of all copies", "prune, reclaim".
func (s Schedule) What() string {
	list := func(all string) string {
		if len(s.Sources) == 0 {
			return all
		}
		return strings.Join(s.Sources, ", ")
	}
	switch s.Job {
	case JobBackup:
		return s.Level + " of " + list("all sources")
	case JobCopy:
		return "copy job " + s.CopyJob
	case JobVerify:
		return "copies of " + list("all sources")
	case JobPrune:
		if s.Reclaim {
			return "expire, reclaim"
		}
		return "expire"
	}
	return ""
}

// Next returns the first time after t at which the schedule fires, or
// the zero time when its cron line is not valid or never fires.
func (s Schedule) Next(t time.Time) time.Time {
	c, err := ParseCron(s.Cron)
	if err != nil {
		return time.Time{}
	}
	return c.Next(t)
}

// Schedule returns the schedule with this name.
func (c *Config) Schedule(name string) (Schedule, bool) {
	for _, s := range c.Schedules {
		if s.Name == name {
			return s, true
		}
	}
	return Schedule{}, false
}

// Cron is a parsed cron line.
type Cron struct {
	line  string
	sched cron.Schedule
}

// Next returns the first time after t that the line names (in t's
// location), or the zero time if there is none within five years.
func (c Cron) Next(t time.Time) time.Time {
	if c.sched == nil {
		return time.Time{}
	}
	return c.sched.Next(t).In(t.Location())
}

// String returns the line as written.
func (c Cron) String() string { return c.line }

// cronParser reads the lines of schedules: an optional seconds field
// before the five of crontab, and descriptors.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Fields of a cron line, for messages: name and range.
var cronFields = []struct{ name, values string }{
	{"second", "0-59"},
	{"minute", "0-59"},
	{"hour", "0-23"},
	{"day-of-month", "1-31"},
	{"month", "1-12 or JAN-DEC"},
	{"day-of-week", "0-6 (0 is Sunday) or SUN-SAT"},
}

// cronExample is offered in messages.
const cronExample = `"0 1 * * *" (01:00 every day)`

// ParseCron parses a cron line of a schedule (see [Schedule.Cron]) with
// the parser of github.com/robfig/cron/v3. An error says which part of the
// line is wrong and what to write instead.
func ParseCron(line string) (Cron, error) {
	spec := strings.TrimSpace(line)
	if spec == "" {
		return Cron{}, fmt.Errorf("the cron line is empty; write 5 fields (minute hour day-of-month month day-of-week), e.g. %s, or @daily", cronExample)
	}
	body := spec
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		tz, rest, _ := strings.Cut(spec, " ")
		_, zone, _ := strings.Cut(tz, "=")
		body = strings.TrimSpace(rest)
		if body == "" {
			return Cron{}, fmt.Errorf("%s is followed by no schedule; write the zone, a space and the fields, e.g. \"CRON_TZ=%s 0 1 * * *\"", tz, orDefault(zone, "Europe/Paris"))
		}
		if _, err := time.LoadLocation(zone); err != nil || zone == "" {
			return Cron{}, fmt.Errorf("unknown time zone %q in %s; name an IANA zone such as Europe/Paris, America/New_York or UTC", zone, tz)
		}
		spec = tz + " " + body
	}
	if strings.HasPrefix(body, "@") {
		switch {
		case strings.HasPrefix(body, "@every"):
			return Cron{}, fmt.Errorf("%q is not allowed: it counts from the start of the server, so every restart would move it; write a cron line, e.g. \"*/30 * * * *\" (every 30 minutes)", body)
		case !contains([]string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}, body):
			return Cron{}, fmt.Errorf("unknown descriptor %q; use @hourly, @daily (or @midnight), @weekly, @monthly or @yearly, or write the fields, e.g. %s", body, cronExample)
		}
	}
	fields := strings.Fields(body)
	if !strings.HasPrefix(body, "@") && (len(fields) < 5 || len(fields) > 6) {
		return Cron{}, fmt.Errorf("the cron line has %d field(s); write 5 (minute hour day-of-month month day-of-week), e.g. %s, or 6 with a leading seconds field, e.g. \"*/10 * * * * *\" (every 10 seconds)", len(fields), cronExample)
	}
	sched, err := parseCron(spec)
	if err != nil {
		return Cron{}, explainCron(fields, err)
	}
	if sched.Next(time.Now()).IsZero() {
		return Cron{}, fmt.Errorf("the cron line names no time that exists (e.g. February 30), so it would never fire; check its day-of-month and month")
	}
	return Cron{line: line, sched: sched}, nil
}

// parseCron runs the library's parser; a panic of it is an error, never a
// crash of daisy.
func parseCron(spec string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("the cron parser failed on this line (%v)", r)
		}
	}()
	return cronParser.Parse(spec)
}

// explainCron finds the field the parser refused by parsing each field
// alone (the others "*"), and names it with its range.
func explainCron(fields []string, err error) error {
	names := cronFields[1:]
	if len(fields) == 6 {
		names = cronFields
	}
	for i, f := range fields {
		probe := make([]string, len(fields))
		for j := range probe {
			probe[j] = "*"
		}
		probe[i] = f
		if _, ferr := parseCron(strings.Join(probe, " ")); ferr != nil {
			return fmt.Errorf("the %s field %q is wrong (%v); write a value in %s, a range (1-5), a list (1,3), a step (*/10) or *", names[i].name, f, ferr, names[i].values)
		}
	}
	return fmt.Errorf("%v; write e.g. %s", err, cronExample)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Schedule keys per job, beside name, cron and job.
var scheduleJobKeys = map[string][]string{
	JobBackup: {"level", "sources"},
	JobCopy:   {"copy_job"},
	JobVerify: {"sources"},
	JobPrune:  {"reclaim"},
}

// scheduleExample is offered by messages.
const scheduleExample = "{name: nightly, cron: \"0 1 * * *\", job: backup, level: incremental}"

// scheduleMeta is what decode read of one schedule, with positions.
type scheduleMeta struct {
	name, cron, job, copyJob pos
	sources                  []pos
}

// kindSchedule names schedules in messages.
const kindSchedule = "schedule"

// decodeSchedules reads schedules.
func (d *decoder) decodeSchedules(c *Config, m *meta, top *mapping) {
	items, at, st := top.list("schedules", "schedules: ["+scheduleExample+"]")
	if st == listBad {
		return
	}
	for i, it := range items {
		im := d.item(m, it, at[i], "schedules", kindSchedule, i, "- "+scheduleExample)
		if im == nil {
			continue
		}
		var s Schedule
		var sm scheduleMeta
		s.Name, sm.name = im.name(m, kindSchedule, nameWithDots)
		if !sm.name.valid() {
			sm.name = im.at
		}
		job, jat, ok := im.str("job")
		switch {
		case ok && contains(scheduleJobs, job):
			s.Job, sm.job = job, jat
		case ok:
			hint := ""
			if sg := suggest(job, scheduleJobs); sg != "" {
				hint = fmt.Sprintf("did you mean %q? ", sg)
			}
			d.errorf(jat, "job %q of %s is not known; %suse backup, copy, verify or prune", job, im.label, hint)
		case im.missing("job") && !im.misspelled("job"):
			d.errorf(im.keyPos("job", sm.name), "%s has no job; add \"job: backup\" (or copy, verify, prune)", im.label)
		}
		allowed := []string{"name", "cron", "job"}
		if s.Job != "" {
			allowed = append(allowed, scheduleJobKeys[s.Job]...)
			// Keys of other jobs: say which job they belong to.
			for _, k := range im.order {
				if contains(allowed, k) {
					continue
				}
				var others []string
				for _, other := range scheduleJobs {
					if other != s.Job && contains(scheduleJobKeys[other], k) {
						others = append(others, other)
					}
				}
				if len(others) > 0 {
					d.errorf(im.fields[k].key, "%s of %s belongs to a %s job, not to a %s job; remove it, or write job: %s", k, im.label, strings.Join(others, " or "), s.Job, others[0])
					im.handle(k)
				}
			}
		} else {
			for _, ks := range scheduleJobKeys {
				allowed = append(allowed, ks...)
			}
		}
		im.only(allowed...)
		if line, lat, ok := im.str("cron"); ok {
			sm.cron = lat
			if _, err := ParseCron(line); err != nil {
				d.errorf(lat, "cron of %s: %v", im.label, err)
			}
			s.Cron = line
		} else if im.missing("cron") && !im.misspelled("cron") {
			d.errorf(im.keyPos("cron", sm.name), "%s has no cron; add when it runs, e.g. cron: %s", im.label, cronExample)
		}
		d.scheduleJobKeys(im, &s, &sm)
		c.Schedules = append(c.Schedules, s)
		m.schedules = append(m.schedules, sm)
	}
}

// scheduleJobKeys reads the keys of a schedule's job.
func (d *decoder) scheduleJobKeys(im *mapping, s *Schedule, sm *scheduleMeta) {
	if s.Job == JobBackup {
		s.Level = LevelIncremental
		if v, at, ok := im.str("level"); ok {
			if contains(levels, v) {
				s.Level = v
			} else {
				hint := ""
				if sg := suggest(v, levels); sg != "" {
					hint = fmt.Sprintf("did you mean %q? ", sg)
				}
				d.errorf(at, "level %q of %s is not a backup level; %suse full, incremental (the default) or differential", v, im.label, hint)
			}
		}
	}
	if s.Job == JobBackup || s.Job == JobVerify || s.Job == "" {
		names, at, st := im.strList("sources", "sources: [home, etc]")
		if st == listOK && len(names) == 0 && im.listLen("sources") == 0 {
			d.errorf(im.fields["sources"].vpos, "sources of %s is an empty list; name at least one source, or remove the key to cover them all", im.label)
		}
		for j, n := range names {
			if strings.TrimSpace(n) == "" {
				d.errorf(at[j], "%s names an empty source; name one, or remove the entry", im.label)
				continue
			}
			s.Sources = append(s.Sources, n)
			sm.sources = append(sm.sources, at[j])
		}
	}
	if s.Job == JobCopy {
		v, at, ok := im.str("copy_job")
		switch {
		case ok && strings.TrimSpace(v) == "":
			d.errorf(at, "copy_job of %s is empty; name one of the copy jobs under copy_jobs", im.label)
		case ok:
			s.CopyJob, sm.copyJob = v, at
		case im.missing("copy_job") && !im.misspelled("copy_job"):
			d.errorf(im.keyPos("copy_job", sm.name), "%s runs a copy job but names none; add \"copy_job: NAME\" naming one of the copy jobs under copy_jobs", im.label)
		}
	}
	if s.Job == JobPrune {
		if v, _, ok := im.boolean("reclaim"); ok {
			s.Reclaim = v
		}
	}
}

// checkSchedules checks what spans entries: unique names, sources and copy
// jobs that exist.
func (d *decoder) checkSchedules(c *Config, m *meta) {
	seen := map[string]pos{}
	var sourceNames, copyJobNames []string
	for _, s := range c.Sources {
		sourceNames = append(sourceNames, s.Name)
	}
	for _, j := range c.CopyJobs {
		copyJobNames = append(copyJobNames, j.Name)
	}
	for i, s := range c.Schedules {
		sm := m.schedules[i]
		label := "schedule " + show(s.Name)
		if s.Name != "" {
			if prev, dup := seen[s.Name]; dup {
				d.errorf(sm.name, "duplicate schedule name %s (first at line %d); rename one of them", show(s.Name), prev.line)
			} else {
				seen[s.Name] = sm.name
			}
		} else {
			label = "this schedule"
		}
		for j, n := range s.Sources {
			_, ok := c.Source(n)
			switch {
			case !ok && !m.incomplete[kindSource]:
				d.errorf(sm.sources[j], "%s names source %s, which does not exist; use one of: %s", label, show(n), listNames(sourceNames))
			case ok && s.Job == JobBackup && len(c.Chain(n)) == 0:
				d.errorf(sm.sources[j], "%s backs up source %s, which is in no buffer of the backup group, so it has nowhere to go; add a buffer with \"source: %s\" to a media agent of backup_group, or remove it here", label, show(n), n)
			}
		}
		if s.Job == JobBackup && len(s.Sources) == 0 && !m.incomplete[kindSource] && !m.incomplete[kindBuffer] {
			some := false
			for _, src := range c.Sources {
				some = some || len(c.Chain(src.Name)) > 0
			}
			if !some {
				d.errorf(sm.job, "%s backs up every source of the backup group, but no source is in a buffer of backup_group; add buffers with \"source: NAME\" there", label)
			}
		}
		if s.CopyJob != "" && !m.incomplete[kindCopyJob] {
			if _, ok := c.CopyJob(s.CopyJob); !ok {
				d.errorf(sm.copyJob, "%s runs copy job %s, which does not exist; add it under copy_jobs or use one of: %s", label, show(s.CopyJob), listNames(copyJobNames))
			}
		}
	}
}
