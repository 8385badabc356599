package jobs

import (
	"context"
	"time"

	"daisy/internal/config"
	"daisy/internal/pools"
)

// PoolWait says what a job does when another daisy process holds the lock
// of a pool it writes: it takes every such lock before it records or reads
// anything, and waits for one held elsewhere up to Wait (0: it refuses at
// once with pools.ErrPoolBusy, leaving nothing in the catalog).
type PoolWait struct {
	Wait time.Duration
	// Waiting, if set, is told (once per pool) that the job waits.
	Waiting func(msg string)
}

// lockJobPools takes, for mgr, the locks of the pools named (names not in
// the configuration are left to the job to report).
func lockJobPools(ctx context.Context, cfg *config.Config, mgr *pools.Manager, names []string, w PoolWait) error {
	var ps []config.Pool
	for _, n := range names {
		if p, ok := cfg.Pool(n); ok {
			ps = append(ps, p)
		}
	}
	return mgr.LockAll(ctx, ps, w.Wait, w.Waiting)
}

// backupPools names the pools a backup of sources writes: those of every
// link of their chains.
func backupPools(cfg *config.Config, sources []config.Source) []string {
	var names []string
	for _, s := range sources {
		for _, l := range cfg.Chain(s.Name) {
			names = append(names, l.Agent.Pool)
		}
	}
	return names
}
