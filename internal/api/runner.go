package api

import (
	"context"
	"time"
)

// Kinds of jobs a JobRequest may ask for.
const (
	KindBackup  = "backup"
	KindRestore = "restore"
	KindCopy    = "copy"
	KindVerify  = "verify"
	KindPrune   = "prune"
)

// JobRequest is the body of POST /v1/jobs: what job to run and its
// options, those of the in-process job functions of internal/jobs. Which
// fields a kind takes is in docs/API.md; Validate checks them against the
// configuration.
type JobRequest struct {
	Kind string `json:"kind"` // backup, restore, copy, verify or prune

	// backup
	Level   string   `json:"level,omitempty"`   // full (default), incremental, differential
	Sources []string `json:"sources,omitempty"` // backup, verify: source names (backup: none = every source with a chain)

	// restore; copy and verify selections
	Object    string    `json:"object,omitempty"`    // object ID or unique prefix
	Source    string    `json:"source,omitempty"`    // restore: latest complete object of the source; copy: its objects
	At        time.Time `json:"at,omitzero"`         // restore with source: the backup as of this time (RFC 3339)
	Target    string    `json:"target,omitempty"`    // restore: directory to restore into (on the server's host)
	Copy      int       `json:"copy,omitempty"`      // restore: this copy number (0: first that reads)
	Paths     []string  `json:"paths,omitempty"`     // restore: only these paths
	Overwrite bool      `json:"overwrite,omitempty"` // restore: write over existing files
	Resume    bool      `json:"resume,omitempty"`    // restore: go on with an interrupted restore into target

	// copy: either a configured copy job, or an ad-hoc copy of a selection into pool
	CopyJob string `json:"copy_job,omitempty"`
	Pool    string `json:"pool,omitempty"`   // copy: pool of the new copies
	Device  string `json:"device,omitempty"` // copy: device to write with
	Client  string `json:"client,omitempty"` // copy: objects of this client
	All     bool   `json:"all,omitempty"`    // copy, verify: every object / copy

	// verify
	Objects []string `json:"objects,omitempty"`
	Volumes []string `json:"volumes,omitempty"`
	Pools   []string `json:"pools,omitempty"`
	NoMark  bool     `json:"no_mark,omitempty"`

	// prune, copy
	DryRun  bool `json:"dry_run,omitempty"`
	Reclaim bool `json:"reclaim,omitempty"` // prune

	// WaitSeconds is how long a job waits for pools another job or
	// process writes (0: it is refused at once, 409).
	WaitSeconds int `json:"wait_seconds,omitempty"`
}

// Runner runs jobs for the API. Run runs one job to its end and returns
// its result (a *jobs.BackupResult, *jobs.RestoreResult, *jobs.CopyResult,
// *jobs.VerifyResult or *jobs.PruneResult for Local; anything that
// marshals to JSON with a "state" field otherwise) or the error that kept
// it from running. An error wrapping jobs.ErrUsage is the request's fault
// (400), one wrapping pools.ErrPoolBusy a conflict (409).
//
// Run calls hooks.Progress, once the job is planned and before data
// moves, with a function the API calls (from any goroutine, about once a
// second, and once more at the end) for a snapshot of the job's progress;
// and hooks.Started with the job's catalog ID when it knows it.
type Runner interface {
	Run(ctx context.Context, req JobRequest, hooks Hooks) (any, error)
}

// Hooks are what a Runner tells the API about a running job. Both are
// set when the API calls Run; each may be called from any goroutine.
type Hooks struct {
	// Started reports the job's ID in the catalog (catalog_job).
	Started func(catalogJob int64)
	// Progress registers the function that snapshots the job's live
	// counters; a later call replaces the earlier function.
	Progress func(snapshot func() Snapshot)
}

// Snapshot is the live progress of a job. Byte counters only grow.
type Snapshot struct {
	// Done and Total are the bytes handled and expected (restore, verify,
	// copy: of the objects; backup: Done is the bytes read from the
	// sources, Total 0 since it is unknown in advance).
	Done  int64 `json:"done_bytes"`
	Total int64 `json:"total_bytes,omitempty"`
	// Devices are what each media agent wrote (backup).
	Devices []DeviceProgress `json:"devices,omitempty"`
	// Buffers are the fill of the job's buffers (backup).
	Buffers []BufferFill `json:"buffers,omitempty"`
	// Sources are what each source's agent read (backup).
	Sources []SourceProgress `json:"sources,omitempty"`
}

// DeviceProgress is what one media agent wrote with its device.
type DeviceProgress struct {
	MediaAgent string `json:"media_agent"`
	Device     string `json:"device"`
	Host       string `json:"host"` // media host; the server's name for a local device
	Copy       int    `json:"copy"`
	Bytes      int64  `json:"bytes"`
	Records    int64  `json:"records"` // records of objects in the blocks written
	Done       bool   `json:"done"`
}

// BufferFill is the fill of one buffer ("MEDIA_AGENT.BUFFER").
type BufferFill struct {
	Buffer   string `json:"buffer"`
	Host     string `json:"host"`
	Used     int64  `json:"used_bytes"`
	Peak     int64  `json:"peak_bytes"`
	Capacity int64  `json:"capacity_bytes"`
	Records  uint64 `json:"records"`
	Bytes    int64  `json:"bytes"` // pushed so far
}

// SourceProgress is what one source's agent read.
type SourceProgress struct {
	Source string `json:"source"`
	Bytes  int64  `json:"bytes"`
	Files  int64  `json:"files"`
	Done   bool   `json:"done"`
}

// Fleet is what the server tells the API about its hosts; optional (nil:
// the topology has no connection states, daisy_agent_connections is
// absent).
type Fleet interface {
	Hosts() []HostState
}

// HostState is a host of the fleet and whether the server is connected
// to it.
type HostState struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"` // client or media-host
	Address   string    `json:"address,omitempty"`
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since,omitzero"` // of the state
	Error     string    `json:"error,omitempty"`
}
