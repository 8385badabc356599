package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/device/devices"
	"daisy/internal/extract"
	"daisy/internal/mediaagent"
	"daisy/internal/records"
)

// FindObject resolves what a restore or cat names: an object ID (or unique
// prefix), or the latest complete object of a source.
func FindObject(ctx context.Context, cat *catalog.Catalog, object, source string) (catalog.Object, error) {
	switch {
	case object != "" && source != "":
		return catalog.Object{}, fmt.Errorf("%w: name an object or a source, not both", ErrUsage)
	case object != "":
		o, err := cat.Object(ctx, object)
		if errors.Is(err, catalog.ErrNotFound) {
			return o, fmt.Errorf("%w: no object %q in the catalog (daisy ls objects lists them)", ErrUsage, object)
		}
		return o, err
	case source != "":
		o, err := cat.LatestObject(ctx, source)
		if errors.Is(err, catalog.ErrNotFound) {
			// The newest backup that can be restored is the newest with
			// a good copy; say so when a newer one has none.
			if n, nerr := cat.LatestComplete(ctx, source); nerr == nil {
				return o, fmt.Errorf("%w: source %q has no backup with a good copy: the newest complete one, %s, has none (restore --salvage --source %s reads its failed copies)", ErrUsage, source, n.ID, source)
			}
			return o, fmt.Errorf("%w: source %q has no complete backup in the catalog", ErrUsage, source)
		}
		return o, err
	}
	return catalog.Object{}, fmt.Errorf("%w: name an object (--object) or a source (--source)", ErrUsage)
}

// CopyAttempt is one copy a read tried: Error says why it stopped at
// offset At (empty for the copy that completed the read).
type CopyAttempt = mediaagent.CopyAttempt

// LostRange is a byte range of an object stream that no copy could give:
// [From, To) was not delivered, and the read went on at To.
type LostRange = mediaagent.LostRange

// StreamResult says how an object stream was read.
type StreamResult struct {
	Object    string        `json:"object"`
	Source    string        `json:"source"`
	Copy      int           `json:"copy"` // the copy that completed the stream
	Attempts  []CopyAttempt `json:"attempts"`
	Bytes     int64         `json:"bytes"`      // object stream bytes delivered
	BytesRead int64         `json:"bytes_read"` // bytes read from devices
	// Volumes are the device counters of the volumes read: blocks and
	// bytes per volume.
	VolumesRead []mediaagent.VolumeRead `json:"volumes_read,omitempty"`
	// Hash is the object's hash, checked against its End record and the
	// catalog; empty when a range was lost (it cannot be checked then).
	Hash string      `json:"hash"`
	Lost []LostRange `json:"lost,omitempty"`
}

// FellBack reports whether a copy failed and another one took over.
func (s *StreamResult) FellBack() bool {
	for _, a := range s.Attempts {
		if a.Error != "" {
			return true
		}
	}
	return false
}

// StreamOptions select the copies a stream is read from.
type StreamOptions struct {
	Copy int // 0: the good copies in order, falling back; N: only copy N
	// Salvage reads copies marked failed (or never finished) too, after
	// the good ones: a copy that verify marked failed for one damaged
	// block still holds the rest.
	Salvage bool
	// OnLost, if set, is called for each range that no copy can give, in
	// stream order, before the data after it; the stream then goes on at
	// r.To. Without it such a range ends the stream with an error. An
	// error of OnLost ends the stream with that error.
	OnLost func(r LostRange) error
	Logger *slog.Logger
	// devs, when set, is the set to mount volumes through (a rebuild's,
	// made from its configuration); else the one UseConfig set.
	devs *devices.Set
}

// copiesToRead returns the copies a stream may use, in order: the good
// ones, then (salvage) the others.
func copiesToRead(ctx context.Context, cat *catalog.Catalog, obj catalog.Object, want int, salvage bool) ([]catalog.Copy, error) {
	cps, err := cat.Copies(ctx, obj.ID)
	if err != nil {
		return nil, err
	}
	var good, other []catalog.Copy
	var desc []string
	for _, c := range cps {
		desc = append(desc, fmt.Sprintf("%d (%s)", c.Number, c.State))
		if want != 0 && c.Number != want {
			continue
		}
		if c.State == CopyGood {
			good = append(good, c)
		} else if salvage {
			other = append(other, c)
		}
	}
	if len(good)+len(other) > 0 {
		return append(good, other...), nil
	}
	have := "none"
	if len(desc) > 0 {
		have = strings.Join(desc, ", ")
	}
	if want != 0 {
		return nil, fmt.Errorf("%w: object %s of %s has no good copy %d; its copies: %s (--salvage reads a failed copy)", ErrUsage, obj.ID, obj.Source, want, have)
	}
	return nil, fmt.Errorf("object %s of %s has no good copy; its copies: %s (--salvage reads failed copies)", obj.ID, obj.Source, have)
}

// Stream writes the object stream (the pax tar archive) of obj to w, read
// from its copies: every record CRC, the sequence and offsets, and the
// content hash (against the End record and the catalog) are checked. When
// a copy cannot be read at a record (volume missing, damaged block),
// another copy gives it, from that record on; a copy that failed further
// back is used again for later ranges, so any pattern of damage where each
// range is intact on some copy reads whole. A range that no copy has goes
// to o.OnLost (or ends the stream with an error).
func Stream(ctx context.Context, cat *catalog.Catalog, obj catalog.Object, w io.Writer, o StreamOptions) (*StreamResult, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res := &StreamResult{Object: obj.ID, Source: obj.Source}
	if obj.State != ObjectComplete {
		return res, fmt.Errorf("object %s of %s is %s, not complete: it cannot be restored", obj.ID, obj.Source, obj.State)
	}
	id, err := records.ParseID(obj.ID)
	if err != nil {
		return res, fmt.Errorf("catalog object id %q: %w", obj.ID, err)
	}
	cps, err := copiesToRead(ctx, cat, obj, o.Copy, o.Salvage)
	if err != nil {
		return res, err
	}
	asm := records.NewAssembler(id, mediaagent.SinkWriter{W: w})
	rd, err := mediaagent.ReadCopies(ctx, mediaagent.ObjectInfo{ID: id, Source: obj.Source, Length: obj.Length},
		objectCopies(ctx, cat, newCatalogVolumes(cat, o.devs), id, cps, log), asm, o.OnLost, log)
	res.Bytes = int64(asm.Offset())
	res.Attempts, res.Lost, res.BytesRead, res.VolumesRead = rd.Attempts, rd.Lost, rd.BytesRead, rd.VolumesRead
	if err != nil {
		return res, err
	}
	res.Copy = rd.Copy
	res.Attempts = append(res.Attempts, CopyAttempt{Copy: res.Copy})
	if len(res.Lost) > 0 {
		return res, nil
	}
	end := asm.End()
	if obj.Hash != "" && end.Hash != obj.Hash {
		return res, fmt.Errorf("%w: object %s of %s: content hash %s (as its end record says), the catalog records %s", records.ErrCorrupt, obj.ID, obj.Source, end.Hash, obj.Hash)
	}
	if obj.Length != 0 && int64(end.Length) != obj.Length {
		return res, fmt.Errorf("%w: object %s of %s: %d bytes, the catalog records %d", records.ErrCorrupt, obj.ID, obj.Source, end.Length, obj.Length)
	}
	res.Hash = end.Hash
	return res, nil
}

// RestoreOptions select what a restore does.
type RestoreOptions struct {
	Object string // ID or unique prefix
	Source string // latest complete object of the source
	// At, with Source: the tree as it was at the latest backup of Source
	// that started not after At.
	At        time.Time
	Copy      int // 0: first copy that reads cleanly
	Target    string
	Overwrite bool
	// Paths, if any, restore only the entries that match one of them
	// (see pathFilter), the directories above them and the files their
	// hard links need.
	Paths []string
	// Resume goes on with an interrupted restore into Target: entries the
	// target already has as restored (same size and mtime) are neither
	// read nor written again, the others are written over.
	Resume bool
	// Salvage reads copies marked failed too (after the good ones).
	Salvage bool
	// Buffered writes every file through the page cache; otherwise the
	// content of files of extract.DirectMin bytes or more is written with
	// O_DIRECT.
	Buffered bool
	Logger   *slog.Logger
	// Progress, if set, is called once the chain is known, before any
	// data moves, with counters of the object bytes restored against the
	// chain's length.
	Progress func(*Progress)
}

// RestorePart is what a restore took from one object of the chain.
type RestorePart struct {
	Object  string `json:"object"`
	Level   string `json:"level"`
	Entries int64  `json:"entries"` // entries of this object restored
	// Mode is "stream" when the whole object was read (its hash checked)
	// or "seek" when only the blocks of its selected entries were read
	// (every record CRC checked, the whole-object hash not).
	Mode      string `json:"mode"`
	Copy      int    `json:"copy"`
	BytesRead int64  `json:"bytes_read"`
	// Volumes are the device counters of the volumes read for it.
	VolumesRead []mediaagent.VolumeRead `json:"volumes_read,omitempty"`
	// Hash is the object's hash when the whole object was read and checked
	// against its End record and the catalog; empty otherwise (seek mode,
	// or a range was lost).
	Hash string `json:"hash,omitempty"`
}

// RestoreResult is the outcome of a restore. The embedded StreamResult
// adds up the objects read: Object is the newest one of the chain.
type RestoreResult struct {
	StreamResult
	// Level and Started are those of Object, the backup restored (as
	// --at chose it).
	Level   string        `json:"level"`
	Started time.Time     `json:"started"`
	Chain   []RestorePart `json:"chain"`
	Target  string        `json:"target"`
	// Entries counts the entries restored: neither kept, refused nor
	// failed.
	Entries int64 `json:"entries"`
	Files   int64 `json:"files"`
	Skipped int64 `json:"skipped"`
	// Kept counts the entries that exist in the target and were kept (not
	// overwritten, without --overwrite or --resume); Failed those that
	// could not be written (permission, space, a read-only target): their
	// paths and reasons are in Problems.
	Kept     int64    `json:"kept"`
	Failed   int64    `json:"failed"`
	Refused  int64    `json:"refused"`
	Resumed  int64    `json:"resumed,omitempty"` // entries found already restored (Resume)
	Problems []string `json:"problems,omitempty"`
	// LostRanges are the ranges of objects that no copy could give, and
	// LostEntries the entries they held that were to be restored: every
	// other entry was restored.
	LostRanges  []ObjectRange `json:"lost_ranges,omitempty"`
	LostEntries []LostEntry   `json:"lost_entries,omitempty"`
	Duration    time.Duration `json:"duration_ns"`
}

// selected is an entry of one chain object that a restore extracts.
type selected struct {
	off, size int64
	path      string
}

// The pipe between reading an object and extracting it: 8 MiB in flight.
const (
	restorePipeChunks = 128
	restorePipeChunk  = 64 << 10
)

// emptyTarLength is the length of a tar stream without entries: its end
// of two zero blocks.
const emptyTarLength = 1024

// entryHeaderCost is what an entry takes in the stream beyond its content
// (pax and tar headers, padding), as restoreObject estimates it.
const entryHeaderCost = 1536

// Restore recreates a source's tree, as a backup recorded it, under
// o.Target: each file at the target joined with its original absolute
// path. The object named (or the one of o.Source at o.At) is the end of a
// restore chain: a full backup, then the objects based on it. Each object
// of the chain is read once, for the entries that are its own in the tree
// (what no newer object of the chain records again, deletions left out).
func Restore(ctx context.Context, cat *catalog.Catalog, o RestoreOptions) (*RestoreResult, error) {
	start := time.Now()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	log := o.Logger
	log.Debug("restore: resolving the object", "object", o.Object, "source", o.Source, "at", o.At)
	var obj catalog.Object
	var err error
	switch {
	case !o.At.IsZero() && o.Source == "":
		return nil, fmt.Errorf("%w: --at needs --source", ErrUsage)
	case !o.At.IsZero() && o.Object != "":
		return nil, fmt.Errorf("%w: --at picks an object of --source; it does not go with --object", ErrUsage)
	case !o.At.IsZero():
		obj, err = cat.ObjectAt(ctx, o.Source, o.At)
		if errors.Is(err, catalog.ErrNotFound) {
			return nil, fmt.Errorf("%w: source %q has no complete backup started at or before %s", ErrUsage, o.Source, o.At.Local().Format(time.RFC3339))
		}
	case o.Salvage && o.Object == "" && o.Source != "":
		// --salvage: the newest complete backup, even without a good copy.
		obj, err = cat.LatestComplete(ctx, o.Source)
		if errors.Is(err, catalog.ErrNotFound) {
			return nil, fmt.Errorf("%w: source %q has no complete backup in the catalog", ErrUsage, o.Source)
		}
	default:
		obj, err = FindObject(ctx, cat, o.Object, o.Source)
	}
	if err != nil {
		return nil, err
	}
	if o.Target == "" {
		return nil, fmt.Errorf("%w: restore needs a target directory (--to)", ErrUsage)
	}
	filter, err := newPathFilter(o.Paths)
	if err != nil {
		return nil, err
	}
	chain, err := cat.Chain(ctx, obj)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, c := range chain {
		total += c.Length
		log.Debug("restore: chain object", "object", c.ID, "source", c.Source, "level", c.Level, "started", c.Started, "bytes", c.Length, "entries", c.Files)
	}
	log.Debug("restore: resolved", "object", obj.ID, "source", obj.Source, "level", obj.Level, "chain", len(chain), "target", o.Target)
	for _, c := range chain {
		if _, err := copiesToRead(ctx, cat, c, o.Copy, o.Salvage); err != nil {
			return nil, err
		}
		// A chain, --path and --resume pick entries by the catalog's file
		// lists: without one an object's entries would be left out
		// silently. A stream of nothing but the tar end is 1024 bytes.
		if len(chain) > 1 || len(o.Paths) > 0 || o.Resume {
			has, err := cat.HasFiles(ctx, c.ID)
			if err != nil {
				return nil, err
			}
			if !has && c.Length > emptyTarLength {
				return nil, fmt.Errorf("the catalog has no file list of %s %s of %s, which this restore needs; daisy scan --rebuild --files reads it back from the volumes",
					c.Level, c.ID, c.Source)
			}
		}
	}
	var wanted map[string]bool
	var picked *pathSelection
	if filter != nil {
		if picked, err = filter.wanted(ctx, cat, chain); err != nil {
			return nil, err
		}
		wanted = picked.wanted
	}
	if err := refuseOverwritingState(ctx, cat, chain, wanted, o.Target); err != nil {
		return nil, err
	}
	res := &RestoreResult{Target: o.Target}
	res.Object, res.Source = obj.ID, obj.Source
	res.Level, res.Started = obj.Level, obj.Started
	sess, err := extract.Open(extract.Options{
		Target: o.Target, Overwrite: o.Overwrite || o.Resume, Owners: os.Geteuid() == 0, Buffered: o.Buffered,
		OnError: func(name string, err error) {
			if errors.Is(err, extract.ErrExists) {
				res.Kept++ // said once, as a count
				return
			}
			if len(res.Problems) < 1000 {
				res.Problems = append(res.Problems, problem(o.Target, name, err))
			}
		},
	})
	if err != nil {
		return nil, err
	}
	prog := startProgress(o.Progress, "restore", total)
	defer prog.end()
	var runErr error
	for i, c := range chain {
		part := RestorePart{Object: c.ID, Level: c.Level}
		// A lone full restored whole needs no file list: that also
		// restores from a catalog rebuilt without --files.
		whole := len(chain) == 1 && filter == nil && !o.Resume
		// The object's selected entries: counted and sized first, then
		// read again from the catalog as the restore goes (pick), so that
		// they are never all in memory.
		var pick func(fn func(selected) error) error
		var want int64
		if !whole {
			if err := checkFileRows(ctx, cat, c); err != nil {
				runErr = err
				break
			}
			each := func(fn func(catalog.File) error) error { return cat.ChainEntries(ctx, chain, i, fn) }
			if picked != nil {
				// The selection has this object's entries already.
				each = func(fn func(catalog.File) error) error {
					for _, f := range picked.own[c.ID] {
						if err := fn(f); err != nil {
							return err
						}
					}
					return nil
				}
			}
			pick = func(fn func(selected) error) error {
				return each(func(f catalog.File) error {
					if o.Resume && sess.Restored(strings.TrimPrefix(f.Path, "/"), f.Type, f.Size, f.MTime, f.Link) {
						return nil
					}
					return fn(selected{off: f.Offset, size: f.Size, path: f.Path})
				})
			}
			var n, all int64
			err := each(func(f catalog.File) error {
				all++
				return nil
			})
			if err == nil {
				err = pick(func(s selected) error {
					n++
					want += s.size + entryHeaderCost
					return nil
				})
			}
			if err != nil {
				runErr = err
				break
			}
			res.Resumed += all - n
			if n == 0 {
				log.Debug("restore: nothing to take from object", "object", c.ID, "entries", all, "resumed", all-n)
				prog.addTotal(-c.Length)
				continue
			}
			if 2*want < c.Length {
				// Only the selected entries are read (seek).
				prog.addTotal(want - c.Length)
			}
		}
		log.Debug("restore: reading object", "object", c.ID, "level", c.Level, "whole", whole, "selected_bytes", want)
		before := restoredEntries(sess.Stats())
		runErr = restoreObject(ctx, cat, c, o, sess, whole, pick, want, &part, res, prog)
		part.Entries = restoredEntries(sess.Stats()) - before
		res.Chain = append(res.Chain, part)
		log.Debug("restore: object done", "object", c.ID, "mode", part.Mode, "copy", part.Copy, "entries", part.Entries, "bytes_read", part.BytesRead, "err", runErr)
		if runErr != nil {
			break
		}
	}
	st := sess.Close()
	log.Debug("restore: target closed", "target", o.Target, "entries", restoredEntries(st), "files", st.Files, "kept", res.Kept, "failed", st.Failed, "bytes", st.Bytes, "direct_bytes", st.DirectBytes)
	res.Entries, res.Files, res.Skipped, res.Refused = restoredEntries(st), st.Files, st.Skipped, st.Refused
	res.Failed = st.Failed
	res.Duration = time.Since(start)
	return res, runErr
}

// restoredEntries is how many entries a session restored: those it read
// less those it skipped (kept among them), refused or could not write.
func restoredEntries(st extract.Stats) int64 {
	return st.Entries - st.Skipped - st.Refused - st.Failed
}

// problem is the text of an entry's problem: its path in the target, then
// the error without the entry name it repeats.
func problem(target, name string, err error) string {
	msg := err.Error()
	if q := strconv.Quote(name); strings.Contains(msg, q) {
		msg = strings.Replace(strings.Replace(msg, q+": ", "", 1), ": "+q, "", 1)
	}
	return filepath.Join(target, name) + ": " + msg
}

// restoreObject extracts the selected entries of one object of the chain
// (all of them when whole): by reading the object through when they make
// up much of it, else by seeking to each. Entries whose bytes no copy has
// are listed in res.LostEntries; entries the catalog lists that are not
// where it says, and a whole object whose entries do not number what the
// catalog recorded, fail it.
func restoreObject(ctx context.Context, cat *catalog.Catalog, obj catalog.Object, o RestoreOptions, sess *extract.Session, whole bool, pick func(fn func(selected) error) error, want int64, part *RestorePart, res *RestoreResult, prog *Progress) error {
	p := &picker{obj: obj}
	if !whole {
		p.src = newSelSource(pick)
		defer p.src.close()
	}
	if whole || 2*want >= obj.Length {
		part.Mode = "stream"
		pipe := newBufferedPipe(restorePipeChunks, restorePipeChunk)
		done := make(chan error, 1)
		entries := sess.Stats().Entries
		go func() {
			err := extractLossy(ctx, cat, obj, sess, pipe, p)
			pipe.CloseRead(err)
			done <- err
		}()
		var sink io.Writer = pipe
		if prog != nil {
			sink = progressWriter{pipe, prog}
		}
		sr, serr := Stream(ctx, cat, obj, sink, StreamOptions{Copy: o.Copy, Salvage: o.Salvage, Logger: o.Logger, OnLost: pipe.Lost})
		pipe.CloseWrite(serr)
		xerr := <-done
		part.Copy, part.BytesRead, part.Hash, part.VolumesRead = sr.Copy, sr.BytesRead, sr.Hash, sr.VolumesRead
		res.VolumesRead = mediaagent.AddReads(res.VolumesRead, sr.VolumesRead)
		res.Copy = sr.Copy
		res.Attempts = append(res.Attempts, sr.Attempts...)
		res.Bytes += sr.Bytes
		res.BytesRead += sr.BytesRead
		res.Hash = sr.Hash
		for _, l := range sr.Lost {
			res.LostRanges = append(res.LostRanges, ObjectRange{Object: obj.ID, LostRange: l})
		}
		res.LostEntries = append(res.LostEntries, p.lost...)
		if serr != nil {
			return serr
		}
		if xerr != nil {
			return fmt.Errorf("extract into %s: %w", o.Target, xerr)
		}
		p.finish()
		if len(sr.Lost) == 0 && whole {
			if err := checkEntryCount(ctx, cat, obj, sess.Stats().Entries-entries); err != nil {
				return err
			}
		}
		return p.end()
	}
	part.Mode = "seek"
	if obj.State != ObjectComplete {
		return fmt.Errorf("object %s of %s is %s, not complete: it cannot be restored", obj.ID, obj.Source, obj.State)
	}
	id, err := records.ParseID(obj.ID)
	if err != nil {
		return fmt.Errorf("catalog object id %q: %w", obj.ID, err)
	}
	cps, err := copiesToRead(ctx, cat, obj, o.Copy, o.Salvage)
	if err != nil {
		return err
	}
	rd, err := mediaagent.NewSeekReader(ctx, mediaagent.ObjectInfo{ID: id, Source: obj.Source, Length: obj.Length},
		objectCopies(ctx, cat, newCatalogVolumes(cat, nil), id, cps, o.Logger), o.Logger)
	if err != nil {
		return err
	}
	defer func() {
		rd.Close()
		part.Copy, part.BytesRead, part.VolumesRead = rd.Copy(), rd.BytesRead(), rd.Reads()
		res.VolumesRead = mediaagent.AddReads(res.VolumesRead, part.VolumesRead)
		res.Copy = rd.Copy()
		res.Attempts = append(res.Attempts, rd.Attempts()...)
		res.Attempts = append(res.Attempts, CopyAttempt{Copy: rd.Copy()})
		res.BytesRead += rd.BytesRead()
	}()
	for s, ok := p.src.peek(); ok; s, ok = p.src.peek() {
		p.src.advance()
		err := rd.SeekTo(s.off)
		from := rd.Offset()
		if err == nil {
			err = sess.ExtractOne(ctx, rd, strings.TrimPrefix(s.path, "/"))
		}
		res.Bytes += rd.Offset() - from
		prog.add(rd.Offset() - from)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return err
		case !rd.Broken():
			// What was read is intact (every record CRC checked): the
			// entry is not where the catalog says.
			p.miss(s, err.Error())
		default:
			res.LostEntries = append(res.LostEntries, LostEntry{Object: obj.ID, Path: s.path, Offset: s.off})
			res.LostRanges = append(res.LostRanges, ObjectRange{Object: obj.ID, LostRange: LostRange{From: from, To: from, Error: err.Error()}})
		}
	}
	return p.end()
}

// missingErr fails a restore for the entries the catalog lists that the
// stream did not have.
func missingErr(p *picker) error {
	if len(p.missing) == 0 {
		return nil
	}
	return fmt.Errorf("object %s of %s: %d entries the catalog lists are not in the object as it says, and were not restored (the catalog is damaged: daisy scan --rebuild --files reads it back from the volumes): %s",
		p.obj.ID, p.obj.Source, len(p.missing), strings.Join(p.missing, "; "))
}

// checkFileRows compares the file rows of an object, from which a restore
// picks its entries, with the entry count the catalog recorded for it: a
// catalog that lost rows would otherwise restore less, silently.
func checkFileRows(ctx context.Context, cat *catalog.Catalog, obj catalog.Object) error {
	n, err := cat.FileCount(ctx, obj.ID)
	if err != nil {
		return err
	}
	if n != obj.Files {
		return fmt.Errorf("object %s of %s: the catalog lists %d entries of it, and records that it has %d: the catalog is damaged (daisy scan --rebuild --files reads the lists back from the volumes)", obj.ID, obj.Source, n, obj.Files)
	}
	return nil
}

// checkEntryCount compares the entries a whole object's stream held with
// the count the catalog recorded for it.
func checkEntryCount(ctx context.Context, cat *catalog.Catalog, obj catalog.Object, seen int64) error {
	if obj.Files == 0 {
		// A catalog rebuilt without file lists records none.
		has, err := cat.HasFiles(ctx, obj.ID)
		if err != nil || !has {
			return err
		}
	}
	if seen != obj.Files {
		return fmt.Errorf("object %s of %s: the stream held %d entries, the catalog records %d: the catalog or the object is damaged, the restore is not what the catalog says was backed up", obj.ID, obj.Source, seen, obj.Files)
	}
	return nil
}
