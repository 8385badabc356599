package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	yerrors "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Defaults of the file format.
const (
	DefaultBufferSize     = 64 * MiB
	DefaultBlockSize      = 256 * KiB
	DefaultVolumeCapacity = 10 * GiB
	DefaultCatalog        = "state/catalog.db"
	DefaultPool           = "default"
	TypeVTape             = "vtape"
	MinBlockSize          = 64 * KiB
	MaxBlockSize          = 16 * MiB
	MinBufferSize         = 1 * MiB
	DefaultExtentSize     = 64 * MiB
	MinExtentSize         = 1 * MiB
)

// hostname names the client when the file declares none; tests replace it.
var hostname = os.Hostname

var topKeys = []string{"catalog", "defaults", "server", "clients", "media_hosts", "sources", "pools", "devices", "backup_group", "mirror_groups", "copy_jobs", "schedules"}

// Load reads, parses and validates the file at path. When the file has
// problems the error is an *Errors listing all of them.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(path, data)
}

// Parse parses and validates data as daisy.yaml. file is the name used in
// messages; relative paths in data are relative to its directory. When data
// has problems the error is an *Errors listing all of them.
func Parse(file string, data []byte) (*Config, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("configuration file %s: %w", file, err)
	}
	// A UTF-8 byte order mark, as some editors write, is not part of the
	// first key.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	d := &decoder{file: file, anchors: map[string][]anchorDef{}, maxSteps: minSteps + stepsPerByte*len(data)}
	c := &Config{File: abs, Dir: filepath.Dir(abs), name: file, pathAt: map[string][]pos{}}
	root := d.parseYAML(data)
	if root != nil {
		m := d.decode(c, root)
		d.validate(c, m)
	}
	if len(d.errs) > 0 {
		sortErrors(d.errs)
		errs := d.errs
		return nil, &errs
	}
	return c, nil
}

// parseYAML returns the body of the single document in data, or nil after
// reporting why there is none.
func (d *decoder) parseYAML(data []byte) (root ast.Node) {
	file, err := safeParse(data)
	if err != nil {
		var ye yerrors.Error
		at := pos{1, 1}
		msg := err.Error()
		if errors.As(err, &ye) {
			if tk := ye.GetToken(); tk != nil {
				at = tokenPos(tk)
			}
			msg = ye.GetMessage()
		}
		var dup *yerrors.DuplicateKeyError
		switch sm := duplicateKey.FindStringSubmatch(msg); {
		case sm != nil:
			d.errorf(at, "key %q appears twice (first at line %s); remove one of them", sm[1], sm[2])
		case errors.As(err, &dup):
			d.errorf(at, "%s; remove one of them", msg)
		case strings.Contains(msg, "'\t'"):
			d.errorf(at, "YAML syntax error: a tab character; YAML indents with spaces only, replace the tabs with spaces")
		default:
			d.errorf(at, "YAML syntax error: %s; check indentation, colons, quotes and brackets here or just before", msg)
		}
		return nil
	}
	var bodies []*ast.DocumentNode
	for _, doc := range file.Docs {
		if doc != nil && doc.Body != nil {
			bodies = append(bodies, doc)
		}
	}
	switch {
	case len(bodies) == 0:
		d.errorf(pos{1, 1}, "the file is empty; declare at least sources, devices and a backup_group (\"daisy init\" writes a working example)")
		return nil
	case len(bodies) > 1:
		at := tokenPos(bodies[1].Start)
		if bodies[1].Start == nil {
			at = nodePos(bodies[1].Body)
		}
		d.errorf(at, "the file holds %d YAML documents; daisy.yaml is one document: remove the \"---\" separators and merge them", len(bodies))
		return nil
	}
	d.collectAnchors(bodies[0].Body, 0)
	return bodies[0].Body
}

// duplicateKey matches the parser's message for a key written twice.
var duplicateKey = regexp.MustCompile(`^mapping key "(.*)" already defined at \[(\d+):\d+\]$`)

// safeParse runs the YAML parser, turning a panic of the parser into an
// error: a broken file must never crash daisy.
func safeParse(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("the YAML parser failed on this file (%v)", r)
		}
	}()
	return parser.ParseBytes(data, 0)
}

// What decode read, with positions, for the checks of validate.
type meta struct {
	defaultPool pos // zero when defaults.pool is absent
	catalog     pos // of catalog.sqlite, zero when absent
	// of defaults.buffer_size, zero when absent
	defaultBufferSize pos
	clients           []pos
	sources           []sourceMeta
	pools             []poolMeta
	devices           []deviceMeta
	backup            []agentMeta
	mirror            [][]agentMeta
	copyJobs          []copyJobMeta
	schedules         []scheduleMeta
	implicitClient    bool
	hosts             hostsMeta
	// incomplete marks the kinds of which some entry could not be read
	// (not a mapping, no name): references to unknown names of that kind
	// are then not reported, they may be meant for the broken entry.
	incomplete map[string]bool
}

type sourceMeta struct{ name, client pos }
type poolMeta struct{ name, capacity, dir, drive pos }
type deviceMeta struct{ name, changer, drive, host pos }
type agentMeta struct {
	at, name, device, pool pos
	buffers                []bufferMeta
}
type bufferMeta struct {
	at, name, source, follows, size pos
	// misspelled source or follows keys, reported as unknown keys already
	sourceTypo, followsTypo bool
}

// Kinds of named things, for meta.incomplete.
const (
	kindClient = "client"
	kindSource = "source"
	kindPool   = "pool"
	kindDevice = "device"
	kindAgent  = "media agent"
	kindBuffer = "buffer"
)

// decode reads the tree into c, reporting the problems of single values:
// kinds, unknown and missing keys, sizes, names.
func (d *decoder) decode(c *Config, root ast.Node) *meta {
	m := &meta{incomplete: map[string]bool{}}
	c.Catalog.SQLite = c.abs(DefaultCatalog)
	c.Defaults = Defaults{BufferSize: DefaultBufferSize, BlockSize: DefaultBlockSize, ExtentSize: DefaultExtentSize}
	top := d.mapping(d.resolve(root))
	if top == nil {
		d.errorf(nodePos(root), "the file must be a mapping with the keys %s, not %s", strings.Join(topKeys, ", "), kindOf(d.resolve(root)))
		for _, k := range []string{kindClient, kindSource, kindPool, kindDevice, kindAgent, kindBuffer} {
			m.incomplete[k] = true
		}
		return m
	}
	top.only(topKeys...)
	d.decodeCatalog(c, m, top)
	d.decodeDefaults(c, m, top)
	d.decodeServer(c, m, top)
	d.decodeClients(c, m, top)
	d.decodeMediaHosts(c, m, top)
	d.decodeSources(c, m, top)
	d.decodePools(c, m, top)
	d.decodeDevices(c, m, top)

	items, at, st := top.list("backup_group", "backup_group: [{name: bma0, device: tape0, buffers: [{name: B1, source: home}]}]")
	if st == listBad {
		m.incomplete[kindAgent], m.incomplete[kindBuffer] = true, true
	}
	c.BackupGroup, m.backup = d.agents(c, m, items, at, "backup_group", 0, RoleBackup)

	items, at, st = top.list("mirror_groups", "mirror_groups: [{media_agents: [{name: bma1, device: tape1, buffers: [{name: B1, follows: bma0.B1}]}]}]")
	if st == listBad {
		m.incomplete[kindAgent], m.incomplete[kindBuffer] = true, true
	}
	for i, it := range items {
		level := i + 1
		lm := d.mapping(it)
		var agents []MediaAgent
		var metas []agentMeta
		switch {
		case it == nil:
			d.errorf(at[i], "mirror level %d has no media agents; add at least one under media_agents, or remove the level (the levels after it move up)", level)
		case lm == nil:
			d.errorf(at[i], "mirror level %d must be a mapping with the key media_agents, not %s; write e.g. - media_agents: [{name: bma1, device: tape1, buffers: [{name: B1, follows: bma0.B1}]}]", level, kindOf(it))
			m.incomplete[kindAgent], m.incomplete[kindBuffer] = true, true
		default:
			lm.label = fmt.Sprintf("mirror level %d", level)
			lm.only("media_agents")
			agItems, agAt, st := lm.list("media_agents", "media_agents: [{name: bma1, device: tape1, buffers: [{name: B1, follows: bma0.B1}]}]")
			switch {
			case st == listBad:
				m.incomplete[kindAgent], m.incomplete[kindBuffer] = true, true
			case len(agItems) == 0 && !lm.misspelled("media_agents"):
				d.errorf(lm.keyPos("media_agents", lm.at), "mirror level %d has no media agents; add at least one under media_agents, or remove the level (the levels after it move up)", level)
			}
			agents, metas = d.agents(c, m, agItems, agAt, fmt.Sprintf("media_agents of mirror level %d", level), level, RoleMirror)
		}
		c.MirrorGroups = append(c.MirrorGroups, agents)
		m.mirror = append(m.mirror, metas)
	}
	d.decodeCopyJobs(c, m, top)
	d.decodeSchedules(c, m, top)
	return m
}

func (d *decoder) decodeCatalog(c *Config, m *meta, top *mapping) {
	f := top.get("catalog")
	if f == nil || f.value == nil {
		return
	}
	cm := d.mapping(f.value)
	if cm == nil {
		d.errorf(f.vpos, "catalog must be a mapping, not %s; write e.g. catalog: {sqlite: %s}", kindOf(f.value), DefaultCatalog)
		return
	}
	cm.label = "catalog"
	cm.only("sqlite")
	if s, at, ok := cm.str("sqlite"); ok {
		if strings.TrimSpace(s) == "" {
			d.errorf(at, "sqlite of catalog is empty; name the database file, e.g. %s", DefaultCatalog)
			return
		}
		c.Catalog.SQLite, m.catalog = c.abs(s), at
	}
}

func (d *decoder) decodeDefaults(c *Config, m *meta, top *mapping) {
	f := top.get("defaults")
	if f == nil || f.value == nil {
		return
	}
	dm := d.mapping(f.value)
	if dm == nil {
		d.errorf(f.vpos, "defaults must be a mapping, not %s; write e.g. defaults: {buffer_size: 64MiB}", kindOf(f.value))
		return
	}
	dm.label = "defaults"
	dm.only("buffer_size", "block_size", "pool", "extent_size")
	if v, at, ok := dm.size("buffer_size"); ok && d.checkBufferSize("buffer_size of defaults", v, at) {
		c.Defaults.BufferSize, m.defaultBufferSize = v, at
	}
	if v, at, ok := dm.size("block_size"); ok && d.checkBlockSize("block_size of defaults", v, at) {
		c.Defaults.BlockSize = v
	}
	if s, at, ok := dm.str("pool"); ok {
		c.Defaults.Pool, m.defaultPool = s, at
	}
	if v, at, ok := dm.size("extent_size"); ok && d.checkExtentSize("extent_size of defaults", v, at) {
		c.Defaults.ExtentSize = v
	}
}

func (d *decoder) decodeClients(c *Config, m *meta, top *mapping) {
	items, at, st := top.list("clients", "clients: [{name: myhost}]")
	if st == listBad {
		m.incomplete[kindClient] = true
		return
	}
	if len(items) == 0 {
		h, err := hostname()
		if err != nil || !validName(h, nameWithDots) {
			h = "localhost"
		}
		c.Clients = []Client{{Name: h}}
		m.clients = []pos{{}}
		m.hosts.clientAddr = []pos{{}}
		m.implicitClient = true
		return
	}
	for i, it := range items {
		im := d.item(m, it, at[i], "clients", kindClient, i, "- name: myhost")
		if im == nil {
			continue
		}
		im.only("name", "address")
		name, nat := im.name(m, kindClient, nameWithDots)
		addr, aat := d.hostAddress(im, "address")
		c.Clients = append(c.Clients, Client{Name: name, Address: addr})
		m.clients = append(m.clients, nat)
		m.hosts.clientAddr = append(m.hosts.clientAddr, aat)
	}
}

func (d *decoder) decodeSources(c *Config, m *meta, top *mapping) {
	items, at, st := top.list("sources", "sources: [{name: home, paths: [/home]}]")
	if st == listBad {
		m.incomplete[kindSource] = true
	}
	for i, it := range items {
		im := d.item(m, it, at[i], "sources", kindSource, i, "- {name: home, paths: [/home]}")
		if im == nil {
			continue
		}
		im.only("name", "client", "paths", "exclude", "compression", "may_be_absent")
		var s Source
		var sm sourceMeta
		s.Name, sm.name = im.name(m, kindSource, nameWithDots)
		s.Client, sm.client, _ = im.str("client")
		paths, pat, st := im.strList("paths", "paths: [/home, /etc]")
		switch {
		case st == listAbsent && !im.misspelled("paths"):
			d.errorf(im.keyPos("paths", sm.name), "%s has no paths; add e.g. \"paths: [/home]\" (relative paths start at the directory of this file)", im.label)
		case st == listOK && im.listLen("paths") == 0:
			d.errorf(im.fields["paths"].vpos, "%s has no paths; list at least one, e.g. \"paths: [/home]\"", im.label)
		}
		for j, p := range paths {
			if strings.TrimSpace(p) == "" {
				d.errorf(pat[j], "%s has an empty path; name a directory or file, e.g. /home", im.label)
				continue
			}
			s.Paths = append(s.Paths, c.abs(p))
			c.pathAt[s.Name] = append(c.pathAt[s.Name], pat[j])
		}
		ex, eat, _ := im.strList("exclude", "exclude: [\"*.tmp\", \"cache/\"]")
		for j, e := range ex {
			if e == "" {
				d.errorf(eat[j], "%s has an empty exclude pattern; remove it", im.label)
				continue
			}
			if _, err := filepath.Match(strings.TrimSuffix(e, "/"), ""); err != nil {
				d.errorf(eat[j], "exclude pattern %q of %s is malformed (%v); check its brackets and backslashes", e, im.label, err)
				continue
			}
			s.Exclude = append(s.Exclude, e)
		}
		if v, vat, ok := im.str("compression"); ok {
			switch v {
			case "none", "":
			case "zstd":
				s.Compression = v
			default:
				d.errorf(vat, "compression %q of %s is not known; write zstd, or none (the default)", v, im.label)
			}
		}
		if v, _, ok := im.boolean("may_be_absent"); ok {
			s.MayBeAbsent = v
		}
		c.Sources = append(c.Sources, s)
		m.sources = append(m.sources, sm)
	}
}

func (d *decoder) decodePools(c *Config, m *meta, top *mapping) {
	items, at, st := top.list("pools", "pools: [{name: default, type: vtape}]")
	if st == listBad {
		m.incomplete[kindPool] = true
		return
	}
	if len(items) == 0 {
		// No pools: one vtape pool "default" with the default settings.
		c.Pools = []Pool{{Name: DefaultPool, Type: TypeVTape, Directory: c.abs(filepath.Join("state", "volumes", DefaultPool)), VolumeCapacity: DefaultVolumeCapacity, FreeSpace: FreeSpaceAuto}}
		m.pools = []poolMeta{{}}
		return
	}
	for i, it := range items {
		im := d.item(m, it, at[i], "pools", kindPool, i, "- {name: default, type: vtape}")
		if im == nil {
			continue
		}
		p := Pool{VolumeCapacity: DefaultVolumeCapacity, FreeSpace: FreeSpaceAuto}
		var pm poolMeta
		p.Name, pm.name = im.name(m, kindPool, nameWithDots)
		p.Type = d.mediaType(im)
		p.Directory = c.abs(filepath.Join("state", "volumes", p.Name))
		if p.Type == TypeS3 {
			im.handle("drive") // poolTape says why not
			im.only(s3PoolKeys...)
			d.decodeS3Pool(c, im, &p)
		} else {
			im.only("name", "type", "directory", "volume_capacity", "free_space", "retention", "drive")
		}
		if s, at, ok := im.str("directory"); ok && p.Type != TypeS3 {
			if strings.TrimSpace(s) == "" {
				d.errorf(at, "%s has an empty directory; name one, e.g. state/volumes/%s, or remove the key", im.label, p.Name)
			} else {
				p.Directory, pm.dir = c.abs(s), at
			}
		}
		if v, at, ok := im.size("volume_capacity"); ok {
			p.VolumeCapacity, pm.capacity = v, at
		}
		if v, _, ok := im.size("free_space"); ok && p.Type != TypeS3 {
			p.FreeSpace = v
		}
		if s, at, ok := im.str("retention"); ok {
			switch age, copies, err := parseRetention(s); {
			case err != nil:
				d.errorf(at, "retention of %s: %v", im.label, err)
			case copies > 0:
				p.RetentionCopies = copies
			case age <= 0:
				d.errorf(at, "retention of %s must be longer than 0; write e.g. 30d, or remove the key", im.label)
			default:
				p.Retention = age
			}
		}
		d.poolTape(im, &p, &pm)
		c.Pools = append(c.Pools, p)
		m.pools = append(m.pools, pm)
	}
}

func (d *decoder) decodeDevices(c *Config, m *meta, top *mapping) {
	items, at, st := top.list("devices", "devices: [{name: tape0, type: vtape}]")
	if st == listBad {
		m.incomplete[kindDevice] = true
	}
	for i, it := range items {
		im := d.item(m, it, at[i], "devices", kindDevice, i, "- {name: tape0, type: vtape}")
		if im == nil {
			continue
		}
		if f := im.get("fail_after"); f != nil {
			// Fault injection moved out of the product (issue 10): tests
			// wrap a device's library (internal/device/fault).
			d.errorf(f.key, "fail_after of %s was removed: daisy.yaml no longer injects device faults (that is for tests, which wrap the device); remove the key", im.label)
			im.handle("fail_after")
		}
		im.only(append([]string{"name", "type", "block_size", "timing", "host"}, tapeDeviceKeys...)...)
		dv := Device{BlockSize: c.Defaults.BlockSize}
		var dm deviceMeta
		dv.Name, dm.name = im.name(m, kindDevice, nameWithDots)
		dv.Type = d.mediaType(im)
		if v, at, ok := im.size("block_size"); ok && d.checkBlockSize("block_size of "+im.label, v, at) {
			dv.BlockSize = v
		}
		dv.Host, dm.host, _ = im.str("host")
		dv.Timing = d.deviceTiming(im, dv.BlockSize)
		d.deviceTape(im, &dv, &dm)
		c.Devices = append(c.Devices, dv)
		m.devices = append(m.devices, dm)
	}
}

// agents decodes the media agents of one group: the backup group (level
// 0), mirror level k or copy stage k, as role says.
func (d *decoder) agents(c *Config, m *meta, items []ast.Node, at []pos, where string, level int, role string) ([]MediaAgent, []agentMeta) {
	var agents []MediaAgent
	var metas []agentMeta
	agentExample, bufExample := "{name: bma0, device: tape0, buffers: [{name: B1, source: home}]}", "{name: B1, source: home}"
	bufKeys := []string{"name", "source", "follows", "size"}
	switch role {
	case RoleMirror:
		bufExample = "{name: B1, follows: bma0.B1}"
	case RoleCopy:
		agentExample, bufExample = "{name: bma1, device: tape1, buffers: [{name: B1, follows: rma0.B1}]}", "{name: B1, follows: rma0.B1}"
		bufKeys = []string{"name", "follows", "size"}
	}
	for i, it := range items {
		im := d.item(m, it, at[i], where, kindAgent, i, "- "+agentExample)
		if im == nil {
			m.incomplete[kindBuffer] = true
			continue
		}
		im.only("name", "device", "pool", "buffers", "extent_size")
		a := MediaAgent{Level: level, Role: role, ExtentSize: c.Defaults.ExtentSize}
		am := agentMeta{at: im.at}
		a.Name, am.name = im.name(m, kindAgent, nameNoDots)
		if !am.name.valid() {
			am.name = im.at
		}
		a.Device, am.device, _ = im.str("device")
		if im.missing("device") && !im.misspelled("device") {
			d.errorf(im.keyPos("device", am.name), "%s has no device; add \"device: NAME\" naming one of the devices", im.label)
		}
		a.Pool, am.pool, _ = im.str("pool")
		if v, at, ok := im.size("extent_size"); ok && d.checkExtentSize("extent_size of "+im.label, v, at) {
			a.ExtentSize = v
		}
		bufItems, bufAt, st := im.list("buffers", "buffers: ["+bufExample+"]")
		switch {
		case st == listBad:
			m.incomplete[kindBuffer] = true
		case len(bufItems) == 0 && !im.misspelled("buffers"):
			d.errorf(im.keyPos("buffers", am.name), "%s has no buffers; add at least one under \"buffers:\", or remove the media agent", im.label)
		}
		for j, bt := range bufItems {
			bm := d.item(m, bt, bufAt[j], "buffers of "+im.label, kindBuffer, j, "- "+bufExample)
			if bm == nil {
				continue
			}
			if a.Name != "" {
				bm.label = strings.Replace(bm.label, "buffer ", "buffer "+a.Name+".", 1)
			}
			if role == RoleCopy {
				d.stageBufferKeys(bm, level)
			}
			bm.only(bufKeys...)
			b := Buffer{Size: c.Defaults.BufferSize}
			bmeta := bufferMeta{at: bm.at}
			b.Name, bmeta.name = bm.name(m, kindBuffer, nameNoDots)
			if !bmeta.name.valid() {
				bmeta.name = bm.at
			}
			bmeta.sourceTypo, bmeta.followsTypo = bm.misspelled("source"), bm.misspelled("follows")
			if role != RoleCopy {
				b.Source, bmeta.source, _ = bm.str("source")
			} else {
				// source or select, reported by stageBufferKeys: the buffer
				// is not reported again for a missing follows.
				for _, k := range []string{"source", "select"} {
					if f := bm.fields[k]; f != nil && !bmeta.source.valid() {
						bmeta.source = f.key
					}
				}
			}
			b.Follows, bmeta.follows, _ = bm.str("follows")
			if v, at, ok := bm.size("size"); ok && d.checkBufferSize("size of "+bm.label, v, at) {
				b.Size, bmeta.size = v, at
			}
			a.Buffers = append(a.Buffers, b)
			am.buffers = append(am.buffers, bmeta)
		}
		agents = append(agents, a)
		metas = append(metas, am)
	}
	return agents, metas
}

// item reads item i of a list as a mapping with a name, labelled
// "kind NAME" (or "kind #N" without a name) in messages.
func (d *decoder) item(mt *meta, n ast.Node, at pos, list, kind string, i int, example string) *mapping {
	m := d.mapping(n)
	if m == nil {
		d.errorf(at, "each entry of %s must be a mapping, not %s; write e.g. %s", list, kindOf(n), example)
		mt.incomplete[kind] = true
		return nil
	}
	m.label = fmt.Sprintf("%s #%d", kind, i+1)
	if f := m.fields["name"]; f != nil {
		if s, ok := scalarText(f.value); ok && s != "" {
			m.label = kind + " " + s
		}
	}
	return m
}

// listLen is the number of entries of the list under key (0 if none).
func (m *mapping) listLen(key string) int {
	if f := m.fields[key]; f != nil {
		if seq, ok := f.value.(*ast.SequenceNode); ok {
			return len(seq.Values)
		}
	}
	return 0
}

// Name syntax.
const (
	nameWithDots = true  // clients, sources, pools, devices
	nameNoDots   = false // media agents and buffers: the dot separates them
)

func validName(s string, dots bool) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case i > 0 && (r == '_' || r == '-'):
		case i > 0 && r == '.' && dots:
		default:
			return false
		}
	}
	return true
}

// name reads the required key "name" and checks its syntax. A missing or
// unreadable name marks the kind incomplete.
func (m *mapping) name(mt *meta, kind string, dots bool) (string, pos) {
	s, at, ok := m.str("name")
	if !ok {
		if m.missing("name") && !m.misspelled("name") {
			m.d.errorf(m.keyPos("name", m.at), "%s has no name; add \"name: NAME\"", m.label)
		}
		mt.incomplete[kind] = true
		return "", at
	}
	if !validName(s, dots) {
		if dots {
			m.d.errorf(at, "invalid %s name %q; use letters, digits, \"_\", \"-\" and \".\", starting with a letter or digit", kind, s)
		} else {
			m.d.errorf(at, "invalid %s name %q; use letters, digits, \"_\" and \"-\", starting with a letter or digit (a dot would break MEDIA_AGENT.BUFFER)", kind, s)
		}
	}
	return s, at
}

// mediaType reads the type of a pool or device.
func (d *decoder) mediaType(m *mapping) string {
	s, at, ok := m.str("type")
	if !ok {
		return TypeVTape
	}
	switch s {
	case TypeVTape, TypeTape, TypeChanger, TypeS3:
	default:
		d.errorf(at, "unknown type %q of %s; use type: vtape, tape, changer or s3", s, m.label)
	}
	return s
}

func (d *decoder) checkBlockSize(what string, v int64, at pos) bool {
	switch {
	case v < MinBlockSize || v > MaxBlockSize:
		d.errorf(at, "%s %s is out of range; use a multiple of 64KiB from 64KiB to 16MiB, e.g. 256KiB", what, FormatSize(v))
	case v%MinBlockSize != 0:
		d.errorf(at, "%s %s is not a multiple of 64KiB; use e.g. %s", what, FormatSize(v), FormatSize((v/MinBlockSize+1)*MinBlockSize))
	default:
		return true
	}
	return false
}

func (d *decoder) checkExtentSize(what string, v int64, at pos) bool {
	if v < MinExtentSize {
		d.errorf(at, "%s %s is below the minimum of 1MiB; use at least 1MiB, e.g. 64MiB", what, FormatSize(v))
		return false
	}
	return true
}

func (d *decoder) checkBufferSize(what string, v int64, at pos) bool {
	if v < MinBufferSize {
		d.errorf(at, "%s %s is below the minimum of 1MiB; use at least 1MiB, e.g. 64MiB", what, FormatSize(v))
		return false
	}
	return true
}

// abs makes a path from the file absolute and clean.
func (c *Config) abs(p string) string {
	if !filepath.IsAbs(p) {
		p = filepath.Join(c.Dir, p)
	}
	return filepath.Clean(p)
}
