package config

import (
	"time"
)

// Config is a parsed and validated daisy.yaml.
type Config struct {
	File string // absolute path of the file
	Dir  string // absolute path of its directory; relative paths start here

	Catalog  Catalog
	Defaults Defaults
	// Server is where daisy server listens (server:); nil in the
	// all-in-one mode, where every command runs the job in its process.
	Server  *Server
	Clients []Client // without a clients list: one client named after this host
	// MediaHosts are the hosts that run daisy media-agent for their
	// devices (media_hosts:); a device names its host, or none: local.
	MediaHosts []MediaHost
	Sources    []Source
	Pools      []Pool
	Devices    []Device

	// BackupGroup holds the media agents that receive data from the agents.
	BackupGroup []MediaAgent
	// MirrorGroups holds the mirror levels: index 0 is level 1.
	MirrorGroups [][]MediaAgent

	// CopyJobs holds the copy jobs: restore groups and their copy stages.
	// Their media agents are not among MediaAgents, Buffer and Chain of
	// Config, which describe the backup topology.
	CopyJobs []CopyJob

	// Schedules are the jobs daisy server starts by itself ("schedules:").
	Schedules []Schedule

	// name is the file's name as given to Parse (as in its errors);
	// pathAt holds, per source, where each of its Paths is written.
	name   string
	pathAt map[string][]pos
	// s3At holds where each s3 pool is written (its name).
	s3At map[string]pos
}

// Catalog says where the catalog lives.
type Catalog struct {
	SQLite string // absolute path of the SQLite database
}

// Defaults apply where the file leaves a value out.
type Defaults struct {
	BufferSize int64  // bytes
	BlockSize  int64  // bytes
	Pool       string // pool of a media agent that names none; if the file names none: the only pool, else "default"
	// ExtentSize is how long a run a media agent writes from one buffer
	// before it moves to another that is filling up: longer runs make
	// restores of one object read less, shorter ones keep slow sources
	// flowing.
	ExtentSize int64 // bytes
}

// Client is a host with data to protect.
type Client struct {
	Name string
	// Address is where its daisy agent listens ("host:port"); "" for a
	// client that is the local host (all-in-one mode, or the server's own
	// host), whose sources are read in process.
	Address string
}

// Source is a named set of paths on one client.
type Source struct {
	Name    string
	Client  string
	Paths   []string // absolute, cleaned
	Exclude []string // patterns, as written
	// Compression is "" (none) or "zstd": the object's data records are
	// compressed, each on its own (see records).
	Compression string
	// MayBeAbsent ("may_be_absent: true") says that a path of the source
	// may be missing on the client (a removable or unmounted disk): a
	// backup then records it as absent. Without it a missing path fails
	// the source's object, so that an unmounted disk is never taken for
	// an empty one.
	MayBeAbsent bool
}

// Pool is a set of volumes.
type Pool struct {
	Name           string
	Type           string // "vtape", "tape" or "s3"
	Directory      string // absolute, cleaned; where vtape volumes live (for tape and s3: the pool's lock)
	VolumeCapacity int64  // bytes
	// S3 is where the volumes of a pool of type s3 live (nil for others).
	S3 *S3
	// FreeSpace is what the pool's volumes leave free on the filesystem of
	// Directory ("free_space"), so that the catalog and other writers
	// there still have room when the volumes fill it: at that point a
	// volume gives its early warning and spans, or the session fails. 0
	// keeps nothing free; FreeSpaceAuto (the default) derives it from the
	// filesystem's size (pools.FreeSpace).
	FreeSpace int64
	// Retention and RetentionCopies are the two forms of "retention:"; at
	// most one is set, and a pool with neither keeps everything. With
	// Retention ("30d") a copy in the pool expires once its object was
	// backed up longer ago than that; with RetentionCopies ("12 copies")
	// the pool keeps, per source, the copies of the RetentionCopies newest
	// objects that have a good copy in it, and copies of older objects
	// expire.
	Retention       time.Duration
	RetentionCopies int
	// Drive names the tape device a pool of type tape is read through
	// ("drive:"; default: the drive of the first media agent writing
	// into it, or the only tape drive), and Tape is that drive.
	Drive string
	Tape  *TapeDrive
}

// FreeSpaceAuto as a pool's FreeSpace derives it from the filesystem.
const FreeSpaceAuto = -1

// HasRetention reports whether copies in the pool ever expire.
func (p Pool) HasRetention() bool { return p.Retention > 0 || p.RetentionCopies > 0 }

// Device is a drive that writes volumes.
type Device struct {
	Name      string
	Type      string // "vtape", "tape" or "changer"
	BlockSize int64  // bytes
	// Timing, if set, models the device as a tape drive on a virtual
	// clock (internal/device/timing): a backup reports whether it would
	// have streamed, and daisy simulate runs on it.
	Timing *Timing
	// Path is the device of a tape drive or changer ("path:").
	Path string
	// Tape is set for a device of type tape: its path, changer and
	// drive number.
	Tape *TapeDrive
	// Host names the media host the device is attached to (one of
	// MediaHosts); its media agents run there. "" is the local host.
	Host string
}

// Roles of media agents.
const (
	RoleBackup = "backup"
	RoleMirror = "mirror"
)

// MediaAgent owns buffers and exactly one device.
type MediaAgent struct {
	Name    string
	Device  string
	Pool    string // always set: defaults.pool when the file names none
	Buffers []Buffer
	Role    string // RoleBackup, RoleMirror or RoleCopy
	Level   int    // 0 in the backup group, k in mirror level k or copy stage k
	// ExtentSize overrides defaults.extent_size for this media agent.
	ExtentSize int64
}

// Buffer is a bounded FIFO of records. In the backup group it reads a
// source; in a mirror group it follows a buffer of the level before; in a
// copy stage it follows a buffer of the restore group (stage 1) or of the
// stage before.
type Buffer struct {
	Name    string
	Source  string // backup group: the source it reads
	Follows string // mirror groups and copy stages: "MEDIA_AGENT.BUFFER" of the level or stage before
	Size    int64  // bytes
}

// ID is the buffer's name qualified by its media agent, e.g. "BMA124.B2".
func (b Buffer) ID(agent string) string { return agent + "." + b.Name }

// ChainLink is one buffer of a source's chain, or of the chain behind a
// restore buffer ([CopyJob.Chain]).
type ChainLink struct {
	Agent  MediaAgent
	Buffer Buffer
	Copy   int // 1 for the backup group, 1+k for mirror level k; k for copy stage k
}

// Source returns the source with this name.
func (c *Config) Source(name string) (Source, bool) {
	for _, s := range c.Sources {
		if s.Name == name {
			return s, true
		}
	}
	return Source{}, false
}

// Pool returns the pool with this name.
func (c *Config) Pool(name string) (Pool, bool) {
	for _, p := range c.Pools {
		if p.Name == name {
			return p, true
		}
	}
	return Pool{}, false
}

// Device returns the device with this name.
func (c *Config) Device(name string) (Device, bool) {
	for _, d := range c.Devices {
		if d.Name == name {
			return d, true
		}
	}
	return Device{}, false
}

// MediaAgent returns the media agent with this name, in any group.
func (c *Config) MediaAgent(name string) (MediaAgent, bool) {
	for _, a := range c.MediaAgents() {
		if a.Name == name {
			return a, true
		}
	}
	return MediaAgent{}, false
}

// Buffer returns the buffer with this ID ("MEDIA_AGENT.BUFFER") and its
// media agent.
func (c *Config) Buffer(id string) (MediaAgent, Buffer, bool) {
	for _, a := range c.MediaAgents() {
		for _, b := range a.Buffers {
			if b.ID(a.Name) == id {
				return a, b, true
			}
		}
	}
	return MediaAgent{}, Buffer{}, false
}

// MediaAgents returns every media agent: the backup group, then the mirror
// levels in order.
func (c *Config) MediaAgents() []MediaAgent {
	out := append([]MediaAgent(nil), c.BackupGroup...)
	for _, level := range c.MirrorGroups {
		out = append(out, level...)
	}
	return out
}

// Chain returns the chain of a source: its backup-group buffer, then the
// buffer that follows it in mirror level 1, and so on. A source that is in
// no buffer has no chain (nil).
func (c *Config) Chain(source string) []ChainLink {
	var chain []ChainLink
	for _, a := range c.BackupGroup {
		for _, b := range a.Buffers {
			if b.Source == source && b.Follows == "" {
				chain = append(chain, ChainLink{Agent: a, Buffer: b, Copy: 1})
				break
			}
		}
		if chain != nil {
			break
		}
	}
	if chain == nil {
		return nil
	}
	first := chain[0]
	return append(chain, follow(first.Buffer.ID(first.Agent.Name), c.MirrorGroups, 2)...)
}

// follow walks a daisy chain from the buffer id through the levels (mirror
// levels or copy stages), one link per level while a buffer of the level
// follows the previous link; the links are numbered first, first+1, ...
func follow(id string, levels [][]MediaAgent, first int) []ChainLink {
	var chain []ChainLink
	for k, level := range levels {
		next, ok := follower(level, id)
		if !ok {
			break
		}
		next.Copy = first + k
		chain = append(chain, next)
		id = next.Buffer.ID(next.Agent.Name)
	}
	return chain
}

// follower returns the buffer of a level that follows buffer id.
func follower(level []MediaAgent, id string) (ChainLink, bool) {
	for _, a := range level {
		for _, b := range a.Buffers {
			if b.Follows == id {
				return ChainLink{Agent: a, Buffer: b}, true
			}
		}
	}
	return ChainLink{}, false
}
