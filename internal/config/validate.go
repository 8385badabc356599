package config

import (
	"fmt"
	"strings"
)

// show writes a name for a message: as is when it is a plain name, quoted
// otherwise.
func show(s string) string {
	if validName(s, true) {
		return s
	}
	return fmt.Sprintf("%q", s)
}

// listNames is "a, b, c" for a hint, or "(none)".
func listNames(names []string) string {
	if len(names) == 0 {
		return "(none yet)"
	}
	if len(names) > 12 {
		return strings.Join(names[:12], ", ") + fmt.Sprintf(" and %d more", len(names)-12)
	}
	return strings.Join(names, ", ")
}

// levelName is "the backup group" or "mirror level k".
func levelName(level int) string {
	if level == 0 {
		return "the backup group"
	}
	return fmt.Sprintf("mirror level %d", level)
}

// bufRef is one buffer of the topology, located.
type bufRef struct {
	agent, buf int // index of the agent in its level, of the buffer in its agent
	level      int
	id         string
	meta       bufferMeta
	// upstream is the buffer this one follows (mirror levels), once resolved.
	upstream *bufRef
}

// validate checks the rules that span entries: names are unique, references
// exist, devices and sources are used once, chains are well formed.
func (d *decoder) validate(c *Config, m *meta) {
	d.uniqueNames(c, m)
	d.checkClients(c, m)
	d.checkPools(c, m)
	d.checkHosts(c, m)

	// Media agents: unique names across all groups, devices used once,
	// pools that exist. Copy jobs have rules of their own.
	type agentAt struct {
		level int
		at    pos
	}
	agentSeen := map[string]agentAt{}
	deviceUser := map[string]struct {
		agent string
		at    pos
	}{}
	deviceNames := make([]string, 0, len(c.Devices))
	for _, dv := range c.Devices {
		deviceNames = append(deviceNames, dv.Name)
	}
	poolNames := make([]string, 0, len(c.Pools))
	for _, p := range c.Pools {
		poolNames = append(poolNames, p.Name)
	}
	levels := append([][]MediaAgent{c.BackupGroup}, c.MirrorGroups...)
	metas := append([][]agentMeta{m.backup}, m.mirror...)
	for level, agents := range levels {
		for i := range agents {
			a, am := &agents[i], metas[level][i]
			if a.Name != "" {
				if prev, dup := agentSeen[a.Name]; dup {
					d.errorf(am.name, "duplicate media agent name %s (first at line %d, in %s); media agent names must be unique across all groups: rename one of them", show(a.Name), prev.at.line, levelName(prev.level))
				} else {
					agentSeen[a.Name] = agentAt{level, am.name}
				}
			}
			label := "media agent " + show(a.Name)
			if a.Name == "" {
				label = "this media agent"
			}
			if a.Device != "" {
				if _, ok := c.Device(a.Device); !ok {
					if !m.incomplete[kindDevice] {
						d.errorf(am.device, "%s uses device %s, which does not exist; add it under devices or use one of: %s", label, show(a.Device), listNames(deviceNames))
					}
				} else if prev, used := deviceUser[a.Device]; used {
					d.errorf(am.device, "device %s is already used by media agent %s (line %d); every media agent needs a device of its own: add another device under devices and name it here", show(a.Device), show(prev.agent), prev.at.line)
				} else {
					deviceUser[a.Device] = struct {
						agent string
						at    pos
					}{a.Name, am.device}
				}
			}
			d.agentPool(c, m, a, am, label, poolNames)
		}
	}
	d.checkCopyJobs(c, m)
	d.checkSchedules(c, m)
	d.checkTape(c, m)
	d.checkCapacities(c, m)
	d.checkBuffers(c, m)
	d.checkPaths(c, m)
	d.checkS3Pools(c, m)
	d.checkMemory(c, m)
}

// agentPool resolves and checks the pool a media agent writes to.
func (d *decoder) agentPool(c *Config, m *meta, a *MediaAgent, am agentMeta, label string, poolNames []string) {
	switch {
	case a.Pool != "":
		if _, ok := c.Pool(a.Pool); !ok && !m.incomplete[kindPool] {
			d.errorf(am.pool, "%s writes to pool %s, which does not exist; add it under pools or use one of: %s", label, show(a.Pool), listNames(poolNames))
		}
	case c.Defaults.Pool != "":
		a.Pool = c.Defaults.Pool
		if _, ok := c.Pool(a.Pool); !ok && !m.defaultPool.valid() && !m.incomplete[kindPool] {
			d.errorf(am.name, "%s names no pool and the default pool %s does not exist; add \"pool: NAME\" naming one of: %s, or set pool under defaults", label, show(a.Pool), listNames(poolNames))
		}
	}
}

// uniqueNames reports names used twice among clients, sources, pools and
// devices, and among the buffers of each media agent.
func (d *decoder) uniqueNames(c *Config, m *meta) {
	check := func(kind string, names []string, at []pos) {
		seen := map[string]pos{}
		for i, n := range names {
			if n == "" || !at[i].valid() {
				continue
			}
			if prev, dup := seen[n]; dup {
				d.errorf(at[i], "duplicate %s name %s (first at line %d); rename one of them", kind, show(n), prev.line)
				continue
			}
			seen[n] = at[i]
		}
	}
	var names []string
	var at []pos
	for i, x := range c.Clients {
		names, at = append(names, x.Name), append(at, m.clients[i])
	}
	check(kindClient, names, at)
	names, at = nil, nil
	for i, x := range c.Sources {
		names, at = append(names, x.Name), append(at, m.sources[i].name)
	}
	check(kindSource, names, at)
	names, at = nil, nil
	for i, x := range c.Pools {
		names, at = append(names, x.Name), append(at, m.pools[i].name)
	}
	check(kindPool, names, at)
	names, at = nil, nil
	for i, x := range c.Devices {
		names, at = append(names, x.Name), append(at, m.devices[i].name)
	}
	check(kindDevice, names, at)
	levels := append([][]MediaAgent{c.BackupGroup}, c.MirrorGroups...)
	metas := append([][]agentMeta{m.backup}, m.mirror...)
	for level, agents := range levels {
		for i, a := range agents {
			seen := map[string]pos{}
			for j, b := range a.Buffers {
				at := metas[level][i].buffers[j].name
				if b.Name == "" {
					continue
				}
				if prev, dup := seen[b.Name]; dup {
					d.errorf(at, "duplicate buffer name %s in media agent %s (first at line %d); rename one of them", show(b.Name), show(a.Name), prev.line)
					continue
				}
				seen[b.Name] = at
			}
		}
	}
}

// checkClients resolves and checks the client of every source.
func (d *decoder) checkClients(c *Config, m *meta) {
	names := make([]string, 0, len(c.Clients))
	for _, cl := range c.Clients {
		names = append(names, cl.Name)
	}
	for i := range c.Sources {
		s, sm := &c.Sources[i], m.sources[i]
		label := "source " + show(s.Name)
		if s.Name == "" {
			label = "this source"
		}
		if s.Client == "" {
			switch {
			case sm.client.valid():
				// A client of the wrong kind, reported already.
			case len(c.Clients) == 1:
				s.Client = c.Clients[0].Name
			case len(c.Clients) > 1:
				d.errorf(sm.name, "%s names no client and there are %d clients; add \"client: NAME\" naming one of: %s", label, len(c.Clients), listNames(names))
			}
			continue
		}
		found := false
		for _, cl := range c.Clients {
			found = found || cl.Name == s.Client
		}
		if !found && !m.incomplete[kindClient] {
			if m.implicitClient {
				d.errorf(sm.client, "%s names client %s, which does not exist: with no clients list the only client is this machine, %s; add a clients list naming %s, or remove \"client\"", label, show(s.Client), show(c.Clients[0].Name), show(s.Client))
			} else {
				d.errorf(sm.client, "%s names client %s, which does not exist; add it under clients or use one of: %s", label, show(s.Client), listNames(names))
			}
		}
	}
}

// checkPools resolves defaults.pool.
func (d *decoder) checkPools(c *Config, m *meta) {
	names := make([]string, 0, len(c.Pools))
	for _, p := range c.Pools {
		names = append(names, p.Name)
	}
	if m.defaultPool.valid() {
		if _, ok := c.Pool(c.Defaults.Pool); !ok && !m.incomplete[kindPool] {
			d.errorf(m.defaultPool, "pool of defaults names pool %s, which does not exist; add it under pools or use one of: %s", show(c.Defaults.Pool), listNames(names))
		}
		return
	}
	switch {
	case len(c.Pools) == 1:
		c.Defaults.Pool = c.Pools[0].Name
	default:
		c.Defaults.Pool = DefaultPool
	}
}

// checkCapacities checks that a volume of every pool holds at least four
// blocks of every device that writes to it.
func (d *decoder) checkCapacities(c *Config, m *meta) {
	writers := c.MediaAgents()
	for i := range c.CopyJobs {
		writers = append(writers, c.CopyJobs[i].MediaAgents()...)
	}
	for i, p := range c.Pools {
		if p.Type == TypeTape {
			continue // a cartridge ends at the drive's early warning
		}
		block, by := c.Defaults.BlockSize, "the default block size"
		for _, a := range writers {
			if a.Pool != p.Name {
				continue
			}
			if dv, ok := c.Device(a.Device); ok && dv.BlockSize > block {
				block, by = dv.BlockSize, "the block size of device "+show(dv.Name)
			}
		}
		if p.VolumeCapacity >= 4*block {
			continue
		}
		at := m.pools[i].capacity
		if !at.valid() {
			at = m.pools[i].name
		}
		if !at.valid() {
			continue
		}
		d.errorf(at, "volume_capacity %s of pool %s holds fewer than 4 blocks of %s (%s); use at least %s", FormatSize(p.VolumeCapacity), show(p.Name), FormatSize(block), by, FormatSize(4*block))
	}
}

// checkBuffers checks sources and chains.
func (d *decoder) checkBuffers(c *Config, m *meta) {
	levels := append([][]MediaAgent{c.BackupGroup}, c.MirrorGroups...)
	metas := append([][]agentMeta{m.backup}, m.mirror...)
	sourceNames := make([]string, 0, len(c.Sources))
	for _, s := range c.Sources {
		sourceNames = append(sourceNames, s.Name)
	}

	// Every buffer by ID; the first of duplicates wins (they are reported).
	byID := map[string]*bufRef{}
	var all []*bufRef
	agentBuffers := map[string][]string{}
	for level, agents := range levels {
		for i, a := range agents {
			for j, b := range a.Buffers {
				r := &bufRef{agent: i, buf: j, level: level, meta: metas[level][i].buffers[j]}
				all = append(all, r)
				if a.Name == "" || b.Name == "" {
					continue
				}
				r.id = b.ID(a.Name)
				if _, dup := byID[r.id]; !dup {
					byID[r.id] = r
					agentBuffers[a.Name] = append(agentBuffers[a.Name], b.Name)
				}
			}
		}
	}

	sourceUser := map[string]*bufRef{}
	downstream := map[string]*bufRef{}
	for _, r := range all {
		a := levels[r.level][r.agent]
		b := a.Buffers[r.buf]
		label := "buffer " + r.id
		if r.id == "" {
			label = "this buffer"
		}
		if r.level == 0 {
			switch {
			case b.Follows != "" || r.meta.follows.valid():
				d.errorf(r.meta.follows, "%s is in the backup group and cannot follow another buffer; give it \"source: NAME\" instead, and put buffers that follow it under mirror_groups", label)
			case b.Source == "" && !r.meta.source.valid() && !r.meta.sourceTypo:
				d.errorf(r.meta.name, "%s has no source; add \"source: NAME\" naming one of the sources: %s", label, listNames(sourceNames))
			}
			if b.Source == "" {
				continue
			}
			if _, ok := c.Source(b.Source); !ok {
				if !m.incomplete[kindSource] {
					d.errorf(r.meta.source, "%s reads source %s, which does not exist; add it under sources or use one of: %s", label, show(b.Source), listNames(sourceNames))
				}
				continue
			}
			if prev, used := sourceUser[b.Source]; used {
				d.errorf(r.meta.source, "source %s is already read by buffer %s (line %d); a source goes into one backup-group buffer: for another copy add a buffer under mirror_groups that follows %s", show(b.Source), prev.id, prev.meta.source.line, prev.id)
				continue
			}
			sourceUser[b.Source] = r
			continue
		}

		// A mirror buffer.
		before := levelName(r.level - 1)
		if b.Source != "" || r.meta.source.valid() {
			d.errorf(r.meta.source, "%s is in mirror level %d and cannot read a source; replace source with \"follows: MEDIA_AGENT.BUFFER\" naming a buffer of %s", label, r.level, before)
			continue
		}
		if b.Follows == "" {
			if !r.meta.follows.valid() && !r.meta.followsTypo {
				d.errorf(r.meta.name, "%s has no follows; add \"follows: MEDIA_AGENT.BUFFER\" naming a buffer of %s", label, before)
			}
			continue
		}
		d.checkFollows(r, b.Follows, label, byID, downstream, chainWords{
			unit: "mirror level", own: "its own level", next: "the next mirror level", name: levelName,
			example: func(level int) string { return d.exampleID(levels[level]) },
			missing: func(parts []string) {
				if m.incomplete[kindAgent] || m.incomplete[kindBuffer] {
					return
				}
				d.followsNothing(r, b.Follows, label, before, agentBuffers[parts[0]], parts[0])
			},
		})
	}
	d.checkCycles(all, "the backup group")
}

// chainWords say how a chain of buffers names its levels: mirror levels of
// the topology, copy stages of a copy job.
type chainWords struct {
	unit    string           // "mirror level"
	own     string           // "its own level"
	next    string           // "the next mirror level"
	name    func(int) string // a level by number, "the backup group" for 0
	example func(int) string // a buffer ID of a level, for messages
	// missing reports a follows of the form MEDIA_AGENT.BUFFER that names
	// no buffer of the chain (parts: the two names).
	missing func(parts []string)
}

// checkFollows checks what buffer r (level ≥ 1, called label) follows:
// one existing buffer of the level before, that no other buffer follows.
// It sets r.upstream and records r in downstream.
func (d *decoder) checkFollows(r *bufRef, follows, label string, byID, downstream map[string]*bufRef, w chainWords) {
	before := w.name(r.level - 1)
	parts := strings.Split(follows, ".")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		d.errorf(r.meta.follows, "%s follows %q, which is not of the form MEDIA_AGENT.BUFFER; name a buffer of %s, e.g. follows: %s", label, follows, before, w.example(r.level-1))
		return
	}
	if follows == r.id {
		d.errorf(r.meta.follows, "%s follows itself; name a buffer of %s as MEDIA_AGENT.BUFFER", label, before)
		return
	}
	up, ok := byID[follows]
	if !ok {
		w.missing(parts)
		return
	}
	r.upstream = up
	if up.level != r.level-1 {
		where := w.name(up.level)
		if up.level == r.level {
			where = fmt.Sprintf("%s %d, %s", w.unit, up.level, w.own)
		}
		d.errorf(r.meta.follows, "%s is in %s %d but follows %s, which is in %s; a buffer of %s %d follows a buffer of %s", label, w.unit, r.level, up.id, where, w.unit, r.level, before)
		return
	}
	if prev, taken := downstream[up.id]; taken {
		d.errorf(r.meta.follows, "%s follows %s, which buffer %s already follows (line %d); a buffer feeds at most one other buffer: to make another copy, move this buffer to %s and let it follow %s", label, up.id, prev.id, prev.meta.follows.line, w.next, prev.id)
		return
	}
	downstream[up.id] = r
}

// followsNothing reports a follows that names no buffer; names are the
// buffers of the media agent it names, if that agent exists.
func (d *decoder) followsNothing(r *bufRef, follows, label, before string, names []string, agent string) {
	if names != nil {
		d.errorf(r.meta.follows, "%s follows %s, which does not exist (media agent %s has %s); name a buffer of %s as MEDIA_AGENT.BUFFER", label, show(follows), agent, listNames(names), before)
		return
	}
	d.errorf(r.meta.follows, "%s follows %s, which does not exist; name a buffer of %s as MEDIA_AGENT.BUFFER", label, show(follows), before)
}

// exampleID is the ID of the first buffer of a level whose names are
// valid, or a placeholder.
func (d *decoder) exampleID(agents []MediaAgent) string {
	for _, a := range agents {
		for _, b := range a.Buffers {
			if validName(a.Name, nameNoDots) && validName(b.Name, nameNoDots) {
				return b.ID(a.Name)
			}
		}
	}
	return "BMA1.B1"
}

// checkCycles reports every cycle of follows. With the level rule a cycle
// cannot exist, but the level rule is reported per link; this names the
// loop as a whole. origin names the group where chains start.
func (d *decoder) checkCycles(all []*bufRef, origin string) {
	const (
		unseen = iota
		onPath
		done
	)
	state := map[*bufRef]int{}
	for _, start := range all {
		var path []*bufRef
		r := start
		for r != nil && state[r] == unseen {
			state[r] = onPath
			path = append(path, r)
			r = r.upstream
		}
		if r != nil && state[r] == onPath {
			// The cycle is path from r to the end.
			i := 0
			for path[i] != r {
				i++
			}
			cycle := path[i:]
			first := cycle[0]
			for _, x := range cycle {
				if x.meta.follows.line < first.meta.follows.line || x.meta.follows.line == first.meta.follows.line && x.meta.follows.col < first.meta.follows.col {
					first = x
				}
			}
			// Name the loop starting at the reported buffer.
			k := 0
			for cycle[k] != first {
				k++
			}
			ids := make([]string, 0, len(cycle)+1)
			for n := 0; n <= len(cycle); n++ {
				ids = append(ids, cycle[(k+n)%len(cycle)].id)
			}
			d.errorf(first.meta.follows, "buffer %s is in a loop: %s; a chain must start at a buffer of %s, so break the loop", first.id, strings.Join(ids, " follows "), origin)
		}
		for _, x := range path {
			state[x] = done
		}
	}
}
