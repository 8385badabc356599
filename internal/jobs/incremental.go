package jobs

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"daisy/internal/agent"
	"daisy/internal/catalog"
)

// Backup levels. A full backup holds every entry of its source. An
// incremental holds what changed since the last backup of the source, a
// differential what changed since the last full; both record the object
// they are based on (catalog Object.Base, and the Begin record), and the
// agent writes deletion entries for what vanished (see package agent). The
// restore chain of an object is its base's chain plus itself: full, then
// at most one differential, then incrementals.
const (
	LevelFull         = "full"
	LevelIncremental  = "incremental"
	LevelDifferential = "differential"
)

// baseOf picks the object a backup of source at level is based on and
// returns the level the backup really has, the base's restore chain (nil
// for a full) and, when the level or the base had to change, a note that
// says why. A base is the newest object whose whole restore chain can be
// restored: every member complete with a good copy (a backup based on
// anything else could not be restored). When a newer object was passed
// over, an incremental is based on the newest older one that qualifies (a
// differential when that is a full); without one the backup is a full.
func baseOf(ctx context.Context, cat *catalog.Catalog, source, level string) (string, []catalog.Object, string, error) {
	if level == LevelFull {
		return level, nil, "", nil
	}
	objs, err := cat.Objects(ctx, catalog.ObjectFilter{Source: source, State: ObjectComplete})
	if err != nil {
		return "", nil, "", err
	}
	var why string // why the newest candidate was passed over
	for i := len(objs) - 1; i >= 0; i-- {
		o := objs[i]
		if level == LevelDifferential && o.Level != LevelFull {
			continue
		}
		chain, bad, err := restorableChain(ctx, cat, o)
		if err != nil {
			return "", nil, "", err
		}
		if bad != "" {
			if why == "" {
				why = bad
			}
			continue
		}
		if why == "" {
			return level, chain, "", nil
		}
		got := level
		if o.Level == LevelFull {
			got = LevelDifferential
		}
		return got, chain, fmt.Sprintf("%s: this backup is %s %s based on %s %s", why, article(got), got, o.Level, o.ID), nil
	}
	if why != "" {
		return LevelFull, nil, why + ": this backup is a full", nil
	}
	return LevelFull, nil, fmt.Sprintf("no full backup of %s to base the %s on: this backup is a full", source, level), nil
}

// restorableChain returns the restore chain of o, or why it cannot be
// restored: a base missing from the catalog, or a member that is not
// complete or has no good copy.
func restorableChain(ctx context.Context, cat *catalog.Catalog, o catalog.Object) ([]catalog.Object, string, error) {
	chain, err := cat.Chain(ctx, o)
	if err != nil {
		if errors.Is(err, catalog.ErrNotFound) {
			return nil, fmt.Sprintf("the restore chain of %s %s is broken (%v)", o.Level, o.ID, err), nil
		}
		return nil, "", err
	}
	for i := len(chain) - 1; i >= 0; i-- {
		m := chain[i]
		what := m.Level + " " + m.ID
		if m.ID != o.ID {
			what = fmt.Sprintf("the restore chain of %s %s cannot be restored:", o.Level, o.ID)
			what += " its " + m.Level + " " + m.ID
		}
		if m.State != ObjectComplete {
			return nil, fmt.Sprintf("%s is %s", what, m.State), nil
		}
		ok, err := hasGoodCopy(ctx, cat, m.ID)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			return nil, what + " has no good copy", nil
		}
	}
	return chain, "", nil
}

// article is "an" before incremental, else "a".
func article(level string) string {
	if level == LevelIncremental {
		return "an"
	}
	return "a"
}

func hasGoodCopy(ctx context.Context, cat *catalog.Catalog, id string) (bool, error) {
	cps, err := cat.Copies(ctx, id)
	if err != nil {
		return false, err
	}
	for _, c := range cps {
		if c.State == CopyGood {
			return true, nil
		}
	}
	return false, nil
}

// chainBase is the agent's view of the tree a chain holds, read from the
// catalog directory by directory, so that memory grows with the largest
// directory, not with the tree. It is nil (a full backup) for an empty
// chain.
func chainBase(ctx context.Context, cat *catalog.Catalog, chain []catalog.Object) agent.Base {
	if len(chain) == 0 {
		return nil
	}
	return &treeBase{ctx: ctx, cat: cat, chain: chain}
}

type treeBase struct {
	ctx   context.Context
	cat   *catalog.Catalog
	chain []catalog.Object
}

func (b *treeBase) Dir(dir string) (map[string]agent.BaseEntry, error) {
	fl, err := b.cat.TreeChildren(b.ctx, b.chain, dir)
	if err != nil {
		return nil, err
	}
	m := make(map[string]agent.BaseEntry, len(fl))
	for _, f := range fl {
		m[path.Base(strings.TrimSuffix(f.Path, "/"))] = baseEntry(f)
	}
	return m, nil
}

func baseEntry(f catalog.File) agent.BaseEntry {
	return agent.BaseEntry{
		Type: f.Type, Size: f.Size, Mode: f.Mode, UID: f.UID, GID: f.GID,
		MTime: f.MTime, CTime: f.CTime, Inode: f.Inode, Link: f.Link,
	}
}

func (b *treeBase) Roots() (map[string]agent.BaseEntry, error) {
	fl, err := b.cat.TreeRoots(b.ctx, b.chain)
	if err != nil {
		return nil, err
	}
	m := make(map[string]agent.BaseEntry, len(fl))
	for _, f := range fl {
		m[strings.TrimSuffix(f.Path, "/")] = baseEntry(f)
	}
	return m, nil
}

// Under walks the subtree directory by directory (catalog.WalkTree): a
// deleted directory of a million files is not held in memory at once.
func (b *treeBase) Under(dir string, fn func(string)) error {
	self := strings.TrimSuffix(dir, "/")
	return b.cat.WalkTree(b.ctx, b.chain, dir, func(f catalog.File) error {
		if p := strings.TrimSuffix(f.Path, "/"); p != self {
			fn(p)
		}
		return nil
	})
}
