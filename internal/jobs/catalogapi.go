package jobs

import (
	"context"

	"daisy/internal/catalog"
	"daisy/internal/volume"
)

// The command line reaches the catalog and the volumes only through this
// package: these are the catalog's handle and rows as jobs hands them
// out, for the listings (ls, find, catalog check) and for resolving what
// a command names. The queries are the handle's methods; what reads or
// writes volumes is a job of this package.

// Catalog is an open catalog.
type Catalog = catalog.Catalog

// Rows of the catalog, as the listings print them.
type (
	Object       = catalog.Object
	CopyInfo     = catalog.Copy
	File         = catalog.File
	Volume       = catalog.Volume
	PoolTotals   = catalog.PoolTotals
	ObjectFilter = catalog.ObjectFilter
	FindQuery    = catalog.FindQuery
	CheckReport  = catalog.CheckReport
	Problem      = catalog.Problem
)

// Errors of the catalog's queries.
var (
	ErrNotFound  = catalog.ErrNotFound
	ErrAmbiguous = catalog.ErrAmbiguous
	// ErrDamaged: SQLite cannot read the catalog file.
	ErrDamaged = catalog.ErrDamaged
)

// Volume states.
const (
	VolumeBlank      = catalog.VolumeBlank
	VolumeAppendable = catalog.VolumeAppendable
	VolumeFull       = catalog.VolumeFull
	VolumeRecyclable = catalog.VolumeRecyclable
	VolumeRetired    = catalog.VolumeRetired
)

// Catalog check.
const (
	MaxProblems   = catalog.MaxProblems
	ProblemSQLite = catalog.ProblemSQLite
)

// OpenCatalog opens (or creates) the catalog at path, marking the jobs
// whose process is gone interrupted (catalog.Open).
func OpenCatalog(ctx context.Context, path string) (*Catalog, error) { return catalog.Open(ctx, path) }

// ScanResult is what a scan found on one volume (ScanVolume).
type ScanResult = volume.ScanResult

// FormatVersion is the volume format this daisy writes and reads.
const FormatVersion = volume.FormatVersion

// FormatBlocks writes block numbers as runs ("3, 7..9").
func FormatBlocks(blocks []int64) string { return volume.FormatBlocks(blocks) }
