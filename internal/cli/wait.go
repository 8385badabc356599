package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"daisy/internal/jobs"
	"daisy/internal/pools"
)

// waitFlag is --wait of the commands that write volumes: how long a job
// waits for a pool that another daisy process writes. The default, 0,
// refuses at once, so that a cron job never piles up behind another.
type waitFlag struct{ d time.Duration }

func (w *waitFlag) add(f *pflag.FlagSet) {
	f.DurationVar(&w.d, "wait", 0, "wait up to this long (5s, 10m, 2h) for a pool another daisy process writes; 0 refuses at once")
}

// locks returns the jobs' PoolWait: waiting is said on stderr.
func (w *waitFlag) locks(g *globals) (jobs.PoolWait, error) {
	if w.d < 0 {
		return jobs.PoolWait{}, usageError("--wait %s: give a duration of 0 or more", w.d)
	}
	return jobs.PoolWait{Wait: w.d, Waiting: func(msg string) { fmt.Fprintf(g.stderr, "daisy: %s\n", msg) }}, nil
}

// busyHint adds to a refusal for a busy pool how to wait for it.
func (w *waitFlag) busyHint(err error) error {
	switch {
	case !errors.Is(err, pools.ErrPoolBusy):
		return err
	case w.d == 0:
		return fmt.Errorf("%w; nothing was done (give --wait 10m to wait for it)", err)
	}
	return fmt.Errorf("%w; nothing was done", err)
}
