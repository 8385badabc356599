package jobs

import (
	"sync"

	"daisy/internal/mediaagent"
	"daisy/internal/records"
)

// extentLog keeps the extents the backup media agents report as their
// blocks reach the media (mediaagent.BMA.OnExtent): what the job commits
// for each copy. A media agent in another process reports the same way.
type extentLog struct {
	mu sync.Mutex
	m  map[extentKey][]mediaagent.Extent
}

type extentKey struct {
	id   records.ID
	copy int
}

// report records one report: a new extent of the copy, or the last one
// grown.
func (l *extentLog) report(r mediaagent.ExtentReport) { l.add(r) }

// add is report, and returns how many records the report adds to the
// copy's extents (the records of the block that made or grew it).
func (l *extentLog) add(r mediaagent.ExtentReport) (records int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[extentKey][]mediaagent.Extent{}
	}
	k := extentKey{r.Object, r.Copy}
	es := l.m[k]
	switch {
	case r.Seq >= 0 && r.Seq < len(es):
		records = r.Extent.Records - es[r.Seq].Records
		es[r.Seq] = r.Extent
	case r.Seq == len(es):
		records = r.Extent.Records
		l.m[k] = append(es, r.Extent)
	}
	// A report that skips extents cannot come from one agent in order;
	// it is left out, and the copy's extents then fail to cover the
	// object when it is committed.
	return records
}

// extents returns the extents reported for copy n of object id.
func (l *extentLog) extents(id records.ID, n int) []mediaagent.Extent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[extentKey{id, n}]
}
