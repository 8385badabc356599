package jobs

import (
	"context"
	"fmt"
	"log/slog"

	"daisy/internal/catalog"
	"daisy/internal/mediaagent"
)

// commitCopy records one copy's outcome after its media agent finished:
// good with its extents (one transaction, after the volume was synced) or
// failed with the reason. upstream is the failure of whatever fed the copy
// (the agent or the restore media agent), which fails it whatever the
// media agent did. The extents are those the media agent reported as it
// wrote (extentLog).
func commitCopy(ctx context.Context, cat *catalog.Catalog, log *slog.Logger, objectID string, number int, agent string, cr *mediaagent.CopyResult, exts []mediaagent.Extent, upstream error) CopyOutcome {
	co := CopyOutcome{Number: number, State: CopyFailed}
	var err error
	switch {
	case upstream != nil:
		err = upstream
	case cr == nil:
		err = fmt.Errorf("media agent %s wrote no record of the object", agent)
	case cr.Err != nil:
		err = cr.Err
	default:
		err = cat.CommitCopy(ctx, objectID, number, catalogExtents(objectID, number, exts))
	}
	co.Extents = len(exts)
	co.Volumes = extentLabels(exts)
	if err != nil {
		co.Error = err.Error()
		if ferr := cat.FailCopy(ctx, objectID, number, err.Error()); ferr != nil {
			log.Error("record failed copy", "object", objectID, "copy", number, "err", ferr)
		}
		log.Error("copy failed", "object", objectID, "copy", number, "err", err)
		return co
	}
	co.State = CopyGood
	return co
}

func catalogExtents(object string, copy int, es []mediaagent.Extent) []catalog.Extent {
	out := make([]catalog.Extent, len(es))
	for i, e := range es {
		out[i] = catalog.Extent{
			ObjectID: object, Copy: copy, Seq: i, VolumeID: e.VolumeID.String(),
			FirstBlock: e.FirstBlock, LastBlock: e.LastBlock,
			FirstOffset: int64(e.FirstOffset), EndOffset: int64(e.EndOffset),
			Records: e.Records, Bytes: e.Bytes,
		}
	}
	return out
}

func extentLabels(es []mediaagent.Extent) []string {
	var out []string
	for _, e := range es {
		if len(out) == 0 || out[len(out)-1] != e.Label {
			out = append(out, e.Label)
		}
	}
	return out
}
