package config

// checkCopyJobs checks the copy jobs: unique job names, and per job its
// media agents, devices, pools, selections and chains.
func (d *decoder) checkCopyJobs(c *Config, m *meta) {
	seen := map[string]pos{}
	for i, j := range c.CopyJobs {
		at := m.copyJobs[i].name
		if j.Name == "" {
			continue
		}
		if prev, dup := seen[j.Name]; dup {
			d.errorf(at, "duplicate copy job name %s (first at line %d); rename one of them", show(j.Name), prev.line)
			continue
		}
		seen[j.Name] = at
	}

	// The media agents of the backup topology, whose names a copy job
	// must not take.
	topology := map[string]struct {
		at    pos
		level int
	}{}
	levels := append([][]MediaAgent{c.BackupGroup}, c.MirrorGroups...)
	metas := append([][]agentMeta{m.backup}, m.mirror...)
	for level, agents := range levels {
		for i, a := range agents {
			if _, dup := topology[a.Name]; a.Name != "" && !dup {
				topology[a.Name] = struct {
					at    pos
					level int
				}{metas[level][i].name, level}
			}
		}
	}
	for i := range c.CopyJobs {
		d.checkCopyJob(c, m, &c.CopyJobs[i], m.copyJobs[i], func(name string) (pos, string, bool) {
			t, ok := topology[name]
			return t.at, levelName(t.level), ok
		})
	}
}

// checkCopyJob checks one copy job. inTopology finds a media agent name in
// the backup topology.
func (d *decoder) checkCopyJob(c *Config, m *meta, j *CopyJob, jm copyJobMeta, inTopology func(string) (pos, string, bool)) {
	sub := jm.sub
	poolNames := make([]string, 0, len(c.Pools))
	for _, p := range c.Pools {
		poolNames = append(poolNames, p.Name)
	}
	deviceNames := make([]string, 0, len(c.Devices))
	for _, dv := range c.Devices {
		deviceNames = append(deviceNames, dv.Name)
	}

	// The media agents of the job, restore group first, as stage 0.
	type agentRef struct {
		stage            int // 0 = the restore group
		name, device     string
		nameAt, deviceAt pos
		buffers          []string
		bufferAt         []pos
		label            string
		stageAgent       *MediaAgent // stage > 0
		stageMeta        agentMeta
		rma              *RestoreAgent // stage 0
		rmaMeta          rmaMeta
	}
	var agents []*agentRef
	for i := range j.RestoreGroup {
		a, am := &j.RestoreGroup[i], jm.restore[i]
		r := &agentRef{stage: 0, name: a.Name, device: a.Device, nameAt: am.name, deviceAt: am.device, rma: a, rmaMeta: am, label: "restore media agent " + show(a.Name)}
		for k, b := range a.Buffers {
			r.buffers, r.bufferAt = append(r.buffers, b.Name), append(r.bufferAt, am.buffers[k].name)
		}
		agents = append(agents, r)
	}
	for s, stage := range j.CopyGroups {
		for i := range stage {
			a, am := &stage[i], jm.stages[s][i]
			r := &agentRef{stage: s + 1, name: a.Name, device: a.Device, nameAt: am.name, deviceAt: am.device, stageAgent: a, stageMeta: am, label: "media agent " + show(a.Name)}
			for k, b := range a.Buffers {
				r.buffers, r.bufferAt = append(r.buffers, b.Name), append(r.bufferAt, am.buffers[k].name)
			}
			agents = append(agents, r)
		}
	}

	agentSeen := map[string]*agentRef{}
	deviceUser := map[string]*agentRef{}
	for _, r := range agents {
		if r.name == "" {
			r.label = "this media agent"
			if r.rma != nil {
				r.label = "this restore media agent"
			}
		}
		// Names: unique within the job and apart from the backup topology.
		if r.name != "" {
			if at, where, ok := inTopology(r.name); ok {
				d.errorf(r.nameAt, "media agent name %s is already used in %s (line %d); the media agents of a copy job need names of their own, so that graphs and logs tell them apart: rename this one", show(r.name), where, at.line)
			} else if prev, dup := agentSeen[r.name]; dup {
				d.errorf(r.nameAt, "duplicate media agent name %s in copy job %s (first at line %d, in %s); media agent names must be unique within a copy job: rename one of them", show(r.name), show(j.Name), prev.nameAt.line, stageName(prev.stage))
			} else {
				agentSeen[r.name] = r
			}
		}
		seen := map[string]pos{}
		for k, b := range r.buffers {
			if b == "" {
				continue
			}
			if prev, dup := seen[b]; dup {
				d.errorf(r.bufferAt[k], "duplicate buffer name %s in media agent %s (first at line %d); rename one of them", show(b), show(r.name), prev.line)
				continue
			}
			seen[b] = r.bufferAt[k]
		}
		// Devices: exist, one media agent each within the job.
		if r.device != "" {
			if _, ok := c.Device(r.device); !ok {
				if !m.incomplete[kindDevice] {
					d.errorf(r.deviceAt, "%s uses device %s, which does not exist; add it under devices or use one of: %s", r.label, show(r.device), listNames(deviceNames))
				}
			} else if prev, used := deviceUser[r.device]; used {
				d.errorf(r.deviceAt, "device %s is already used by media agent %s (line %d) of this copy job; every media agent of a copy job needs a device of its own: add another device under devices and name it here", show(r.device), show(prev.name), prev.deviceAt.line)
			} else {
				deviceUser[r.device] = r
			}
		}
		// Pools.
		if r.stageAgent != nil {
			d.agentPool(c, m, r.stageAgent, r.stageMeta, r.label, poolNames)
			continue
		}
		if p := r.rma.Pool; p != "" {
			if _, ok := c.Pool(p); !ok && !m.incomplete[kindPool] {
				d.errorf(r.rmaMeta.pool, "%s reads pool %s, which does not exist; add it under pools or use one of: %s, or remove pool to read the lowest-numbered good copy", r.label, show(p), listNames(poolNames))
			}
		}
		d.checkSelections(c, m, r.rma, r.rmaMeta, poolNames)
	}
	d.checkCopyChains(c, j, jm, sub)
}

// checkSelections checks the references of the selections of a restore
// media agent, and that no two of its buffers select the same objects.
func (d *decoder) checkSelections(c *Config, m *meta, a *RestoreAgent, am rmaMeta, poolNames []string) {
	sourceNames := make([]string, 0, len(c.Sources))
	for _, s := range c.Sources {
		sourceNames = append(sourceNames, s.Name)
	}
	clientNames := make([]string, 0, len(c.Clients))
	for _, cl := range c.Clients {
		clientNames = append(clientNames, cl.Name)
	}
	for k, b := range a.Buffers {
		s, sm := b.Select, am.buffers[k].sel
		label := "select of buffer " + b.ID(a.Name)
		if a.Name == "" || b.Name == "" {
			label = "this select"
		}
		var src Source
		srcOK := false
		if s.Source != "" {
			if src, srcOK = c.Source(s.Source); !srcOK && !m.incomplete[kindSource] {
				d.errorf(sm.source, "%s names source %s, which does not exist; add it under sources or use one of: %s", label, show(s.Source), listNames(sourceNames))
			}
		}
		if s.Client != "" {
			found := false
			for _, cl := range c.Clients {
				found = found || cl.Name == s.Client
			}
			switch {
			case !found && m.incomplete[kindClient]:
			case !found && m.implicitClient:
				d.errorf(sm.client, "%s names client %s, which does not exist: with no clients list the only client is this machine, %s; add a clients list naming %s, or remove client", label, show(s.Client), show(c.Clients[0].Name), show(s.Client))
			case !found:
				d.errorf(sm.client, "%s names client %s, which does not exist; add it under clients or use one of: %s", label, show(s.Client), listNames(clientNames))
			case srcOK && src.Client != "" && src.Client != s.Client:
				d.errorf(sm.client, "%s names source %s, which belongs to client %s, and client %s, so nothing matches; remove client, or name %s", label, show(s.Source), show(src.Client), show(s.Client), show(src.Client))
			}
		}
		if s.NotInPool != "" {
			if _, ok := c.Pool(s.NotInPool); !ok && !m.incomplete[kindPool] {
				d.errorf(sm.notInPool, "%s names pool %s under not_in_pool, which does not exist; add it under pools or use one of: %s", label, show(s.NotInPool), listNames(poolNames))
			}
		}
		if !hasCriterion(s) || b.Name == "" {
			continue
		}
		for e := 0; e < k; e++ {
			prev := a.Buffers[e]
			if prev.Name != "" && sameSelection(prev.Select, s) {
				d.errorf(sm.at, "buffer %s selects the same objects as buffer %s (line %d); an object goes into one buffer of its media agent: remove one of them (for more copies of these objects, add copy stages behind %s)", b.ID(a.Name), prev.ID(a.Name), am.buffers[e].sel.at.line, prev.ID(a.Name))
				break
			}
		}
	}
}

// hasCriterion reports whether s selects anything.
func hasCriterion(s Selection) bool {
	return s.All || s.Source != "" || s.Client != "" || s.Object != "" || s.Level != "" || !s.Since.IsZero() || !s.Until.IsZero() || s.NotInPool != ""
}

// sameSelection reports whether a and b select the same objects because
// they are written alike.
func sameSelection(a, b Selection) bool {
	return a.Source == b.Source && a.Client == b.Client && a.Object == b.Object && a.Level == b.Level &&
		a.Since.Equal(b.Since) && a.Until.Equal(b.Until) && a.SinceAgo == b.SinceAgo && a.UntilAgo == b.UntilAgo &&
		a.Latest == b.Latest && a.NotInPool == b.NotInPool && a.All == b.All
}

// checkCopyChains checks the follows of the copy stages: stage 1 follows
// the restore group, stage k stage k-1, one downstream per buffer, no
// loops; and that every restore buffer feeds a copy stage.
func (d *decoder) checkCopyChains(c *Config, j *CopyJob, jm copyJobMeta, sub *meta) {
	// Every buffer of the job by ID, the restore group as stage 0; the
	// first of duplicates wins (they are reported).
	byID := map[string]*bufRef{}
	agentBuffers := map[string][]string{}
	var all []*bufRef
	add := func(r *bufRef, agent, buf string) {
		all = append(all, r)
		if agent == "" || buf == "" {
			return
		}
		r.id = agent + "." + buf
		if _, dup := byID[r.id]; !dup {
			byID[r.id] = r
			agentBuffers[agent] = append(agentBuffers[agent], buf)
		}
	}
	for i, a := range j.RestoreGroup {
		for k, b := range a.Buffers {
			bm := jm.restore[i].buffers[k]
			r := &bufRef{agent: i, buf: k, level: 0, meta: bufferMeta{at: bm.at, name: bm.name}}
			add(r, a.Name, b.Name)
		}
	}
	for s, stage := range j.CopyGroups {
		for i, a := range stage {
			for k, b := range a.Buffers {
				add(&bufRef{agent: i, buf: k, level: s + 1, meta: jm.stages[s][i].buffers[k]}, a.Name, b.Name)
			}
		}
	}
	exampleID := func(stage int) string {
		if stage == 0 {
			for _, a := range j.RestoreGroup {
				for _, b := range a.Buffers {
					if validName(a.Name, nameNoDots) && validName(b.Name, nameNoDots) {
						return b.ID(a.Name)
					}
				}
			}
			return "RMA1.B1"
		}
		return d.exampleID(j.CopyGroups[stage-1])
	}

	downstream := map[string]*bufRef{}
	for _, r := range all {
		if r.level == 0 {
			continue
		}
		a := j.CopyGroups[r.level-1][r.agent]
		b := a.Buffers[r.buf]
		label := "buffer " + r.id
		if r.id == "" {
			label = "this buffer"
		}
		before := stageName(r.level - 1)
		if b.Follows == "" {
			if !r.meta.follows.valid() && !r.meta.followsTypo && !r.meta.source.valid() {
				d.errorf(r.meta.name, "%s has no follows; add \"follows: MEDIA_AGENT.BUFFER\" naming a buffer of %s", label, before)
			}
			continue
		}
		d.checkFollows(r, b.Follows, label, byID, downstream, chainWords{
			unit: "copy stage", own: "its own stage", next: "the next copy stage", name: stageName, example: exampleID,
			missing: func(parts []string) {
				if _, _, inTopology := c.Buffer(b.Follows); inTopology {
					ta, _, _ := c.Buffer(b.Follows)
					d.errorf(r.meta.follows, "%s is in copy stage %d but follows %s, which is in %s, not in this copy job; a buffer of copy stage %d follows a buffer of %s of copy job %s", label, r.level, b.Follows, levelName(ta.Level), r.level, before, show(j.Name))
					return
				}
				if sub.incomplete[kindRMA] || sub.incomplete[kindAgent] || sub.incomplete[kindBuffer] {
					return
				}
				names := agentBuffers[parts[0]]
				if other := otherCopyJob(c, j, b.Follows); names == nil && other != "" {
					d.errorf(r.meta.follows, "%s follows %s, which is in copy job %s, not in this one; name a buffer of %s of copy job %s as MEDIA_AGENT.BUFFER", label, show(b.Follows), show(other), before, show(j.Name))
					return
				}
				d.followsNothing(r, b.Follows, label, before, names, parts[0])
			},
		})
	}
	d.checkCycles(all, "the restore group")

	// Every restore buffer feeds a copy stage. When a buffer of stage 1
	// follows nothing that resolved, it may be meant for one that seems to
	// feed nothing: nothing more is said then.
	if sub.incomplete[kindRMA] || sub.incomplete[kindAgent] || sub.incomplete[kindBuffer] || len(j.CopyGroups) == 0 {
		return
	}
	fed := map[*bufRef]bool{}
	for _, r := range downstream {
		fed[r] = true
	}
	for _, r := range all {
		if r.level == 1 && !fed[r] {
			return
		}
	}
	for _, r := range all {
		if r.level == 0 && r.id != "" && byID[r.id] == r && downstream[r.id] == nil {
			d.errorf(r.meta.name, "buffer %s feeds no copy stage, so the objects it selects would be read for nothing; add a buffer under copy stage 1 that follows %s, or remove it", r.id, r.id)
		}
	}
}

// otherCopyJob names the copy job other than j that has the buffer id, or
// "".
func otherCopyJob(c *Config, j *CopyJob, id string) string {
	for i := range c.CopyJobs {
		o := &c.CopyJobs[i]
		if o == j {
			continue
		}
		if _, _, ok := o.RestoreBuffer(id); ok {
			return o.Name
		}
		for _, a := range o.MediaAgents() {
			for _, b := range a.Buffers {
				if b.ID(a.Name) == id {
					return o.Name
				}
			}
		}
	}
	return ""
}
