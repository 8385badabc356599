package catalog

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Owner is the process that runs a job: its pid, the boot it runs in
// (/proc/sys/kernel/random/boot_id) and its start time in clock ticks
// since boot (/proc/PID/stat, field 22), which tells a pid that was reused
// from the job's own process. Boot and Start are empty where /proc is not
// available.
type Owner struct {
	PID   int64  `json:"pid,omitempty"`
	Boot  string `json:"boot,omitempty"`
	Start int64  `json:"start,omitempty"`
}

// self is the owner of the jobs this process starts.
var self = func() Owner {
	pid := os.Getpid()
	start, _ := processStart(pid)
	return Owner{PID: int64(pid), Boot: bootID(), Start: start}
}()

func (o Owner) String() string {
	s := "pid " + strconv.FormatInt(o.PID, 10)
	if o.Boot != "" {
		s += " of boot " + o.Boot
	}
	return s
}

// bootID is the kernel's ID of the current boot, or "".
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// processStart reads the start time of process pid, in clock ticks since
// boot, from /proc/PID/stat.
func processStart(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces
	// and parentheses itself: the fields after it follow the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return strconv.ParseInt(f[19], 10, 64)
}

// gone reports whether the owner of a running job no longer runs: it ran
// in another boot, or no process has its pid, or the process with its pid
// started at another time (the pid was reused). An owner that was not
// recorded (pid 0, a job of schema version 1) is gone. Where /proc cannot
// tell, a process that cannot be signalled is gone.
func (o Owner) gone() bool {
	if o.PID <= 0 {
		return true
	}
	if o.Boot != "" && self.Boot != "" {
		if o.Boot != self.Boot {
			return true
		}
		start, err := processStart(int(o.PID))
		if err != nil {
			return errors.Is(err, os.ErrNotExist)
		}
		return o.Start != 0 && start != o.Start
	}
	err := syscall.Kill(int(o.PID), 0)
	return errors.Is(err, syscall.ESRCH)
}
