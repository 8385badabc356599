package rpc

import (
	"errors"
	"fmt"
	"time"

	"daisy/internal/agent"
	"daisy/internal/catalog"
	"daisy/internal/mediaagent"
	"daisy/internal/records"
	pb "daisy/internal/rpc/daisypb"
)

// Nanos is t in Unix nanoseconds, 0 for the zero time.
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Time is the UTC time of Unix nanoseconds n, the zero time for 0.
func Time(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// VolumeToPB converts a catalog volume.
func VolumeToPB(v catalog.Volume) *pb.Volume {
	return &pb.Volume{
		Id: v.ID, Label: v.Label, Pool: v.Pool, State: v.State, BlockSize: int32(v.BlockSize),
		Blocks: v.Blocks, Bytes: v.Bytes, Capacity: v.Capacity, Path: v.Path,
		CreatedUnixNano: Nanos(v.Created), UpdatedUnixNano: Nanos(v.Updated), LastWrittenUnixNano: Nanos(v.LastWritten),
	}
}

// VolumeFromPB converts a volume message.
func VolumeFromPB(v *pb.Volume) catalog.Volume {
	return catalog.Volume{
		ID: v.GetId(), Label: v.GetLabel(), Pool: v.GetPool(), State: v.GetState(), BlockSize: int(v.GetBlockSize()),
		Blocks: v.GetBlocks(), Bytes: v.GetBytes(), Capacity: v.GetCapacity(), Path: v.GetPath(),
		Created: Time(v.GetCreatedUnixNano()), Updated: Time(v.GetUpdatedUnixNano()), LastWritten: Time(v.GetLastWrittenUnixNano()),
	}
}

// ExtentToPB converts a media agent's extent.
func ExtentToPB(e mediaagent.Extent) *pb.Extent {
	return &pb.Extent{
		Volume: e.VolumeID.String(), Label: e.Label, FirstBlock: e.FirstBlock, LastBlock: e.LastBlock,
		FirstOffset: e.FirstOffset, EndOffset: e.EndOffset, Records: e.Records, Bytes: e.Bytes,
	}
}

// ExtentFromPB converts an extent message; its volume must be an ID.
func ExtentFromPB(e *pb.Extent) (mediaagent.Extent, error) {
	id, err := records.ParseID(e.GetVolume())
	if err != nil {
		return mediaagent.Extent{}, fmt.Errorf("extent on volume %q: %w", e.GetVolume(), err)
	}
	if e.GetFirstBlock() < 0 || e.GetLastBlock() < e.GetFirstBlock() || e.GetEndOffset() < e.GetFirstOffset() {
		return mediaagent.Extent{}, fmt.Errorf("extent on volume %s: blocks %d..%d, offsets %d..%d do not make a run", id, e.GetFirstBlock(), e.GetLastBlock(), e.GetFirstOffset(), e.GetEndOffset())
	}
	return mediaagent.Extent{
		VolumeID: id, Label: e.GetLabel(), FirstBlock: e.GetFirstBlock(), LastBlock: e.GetLastBlock(),
		FirstOffset: e.GetFirstOffset(), EndOffset: e.GetEndOffset(), Records: e.GetRecords(), Bytes: e.GetBytes(),
	}, nil
}

// CopyResultToPB converts a media agent's result for one object.
func CopyResultToPB(r mediaagent.CopyResult) *pb.CopyResult {
	m := &pb.CopyResult{Object: r.Object.String(), Copy: int32(r.Copy), Input: r.Input, Bytes: r.Bytes}
	for _, e := range r.Extents {
		m.Extents = append(m.Extents, ExtentToPB(e))
	}
	if r.Err != nil {
		m.Error = r.Err.Error()
	}
	return m
}

// CopyResultFromPB converts a copy result message.
func CopyResultFromPB(m *pb.CopyResult) (mediaagent.CopyResult, error) {
	id, err := records.ParseID(m.GetObject())
	if err != nil {
		return mediaagent.CopyResult{}, fmt.Errorf("copy result for object %q: %w", m.GetObject(), err)
	}
	r := mediaagent.CopyResult{Object: id, Copy: int(m.GetCopy()), Input: m.GetInput(), Bytes: m.GetBytes()}
	for _, e := range m.GetExtents() {
		x, err := ExtentFromPB(e)
		if err != nil {
			return r, fmt.Errorf("copy %d of object %s: %w", r.Copy, id, err)
		}
		r.Extents = append(r.Extents, x)
	}
	if m.GetError() != "" {
		r.Err = errors.New(m.GetError())
	}
	return r, nil
}

// FileToPB converts a file list entry (its object is implied).
func FileToPB(f catalog.File) *pb.File {
	return &pb.File{
		Path: f.Path, Type: uint32(f.Type), Size: f.Size, Mode: f.Mode, Uid: int64(f.UID), Gid: int64(f.GID),
		MtimeUnixNano: Nanos(f.MTime), CtimeUnixNano: Nanos(f.CTime), Inode: f.Inode, Link: f.Link, Offset: f.Offset,
	}
}

// FileFromPB converts a file message of object.
func FileFromPB(object string, f *pb.File) (catalog.File, error) {
	if f.GetType() > 0xff {
		return catalog.File{}, fmt.Errorf("file %q: type %d is not a tar type flag", f.GetPath(), f.GetType())
	}
	return catalog.File{
		ObjectID: object, Path: f.GetPath(), Type: byte(f.GetType()), Size: f.GetSize(), Mode: f.GetMode(),
		UID: int(f.GetUid()), GID: int(f.GetGid()), MTime: Time(f.GetMtimeUnixNano()), CTime: Time(f.GetCtimeUnixNano()),
		Inode: f.GetInode(), Link: f.GetLink(), Offset: f.GetOffset(),
	}, nil
}

// BaseEntryToPB converts an entry of a base tree named name.
func BaseEntryToPB(name string, e agent.BaseEntry) *pb.BaseEntry {
	return &pb.BaseEntry{
		Name: name, Type: uint32(e.Type), Size: e.Size, Mode: e.Mode, Uid: int64(e.UID), Gid: int64(e.GID),
		MtimeUnixNano: Nanos(e.MTime), CtimeUnixNano: Nanos(e.CTime), Inode: e.Inode, Link: e.Link,
	}
}

// BaseEntriesFromPB converts base entries to the map agent.Base returns.
func BaseEntriesFromPB(es []*pb.BaseEntry) map[string]agent.BaseEntry {
	m := make(map[string]agent.BaseEntry, len(es))
	for _, e := range es {
		m[e.GetName()] = agent.BaseEntry{
			Type: byte(e.GetType()), Size: e.GetSize(), Mode: e.GetMode(), UID: int(e.GetUid()), GID: int(e.GetGid()),
			MTime: Time(e.GetMtimeUnixNano()), CTime: Time(e.GetCtimeUnixNano()), Inode: e.GetInode(), Link: e.GetLink(),
		}
	}
	return m
}

// LostRangeToPB converts a lost range.
func LostRangeToPB(r mediaagent.LostRange) *pb.LostRange {
	return &pb.LostRange{From: r.From, To: r.To, Error: r.Error}
}
