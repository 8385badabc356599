package api

import (
	"fmt"
	"path/filepath"

	"daisy/internal/config"
)

// FieldError is a request that is wrong in one field: a 400 that names it.
type FieldError struct {
	Field string // JSON name of the field, "" for the body as a whole
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return "field " + e.Field + ": " + e.Msg
}

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks a request against cfg before any job runs: the kind,
// the names it gives (sources, pools, copy jobs, devices) and the fields
// its kind needs. The error is a *FieldError.
func (r *JobRequest) Validate(cfg *config.Config) error {
	if r.WaitSeconds < 0 {
		return fieldErr("wait_seconds", "%d: give 0 or more seconds", r.WaitSeconds)
	}
	source := func(field, name string) error {
		if _, ok := cfg.Source(name); !ok {
			return fieldErr(field, "no source %q in %s", name, cfg.File)
		}
		return nil
	}
	pool := func(field, name string) error {
		if _, ok := cfg.Pool(name); !ok {
			return fieldErr(field, "no pool %q in %s", name, cfg.File)
		}
		return nil
	}
	switch r.Kind {
	case KindBackup:
		switch r.Level {
		case "", "full", "incremental", "differential":
		default:
			return fieldErr("level", "%q: give full, incremental or differential", r.Level)
		}
		for _, s := range r.Sources {
			if err := source("sources", s); err != nil {
				return err
			}
			if len(cfg.Chain(s)) == 0 {
				return fieldErr("sources", "source %q is in no buffer of the backup group, so it has nowhere to go", s)
			}
		}
	case KindRestore:
		switch {
		case r.Target == "":
			return fieldErr("target", "a restore needs a target directory")
		case !filepath.IsAbs(r.Target):
			return fieldErr("target", "%q: give an absolute path (the server's working directory is not yours)", r.Target)
		case r.Object == "" && r.Source == "":
			return fieldErr("object", "a restore needs an object or a source")
		case r.Object != "" && r.Source != "":
			return fieldErr("source", "give an object or a source, not both")
		case !r.At.IsZero() && r.Source == "":
			return fieldErr("at", "at picks a backup of source; give source")
		case r.Copy < 0:
			return fieldErr("copy", "%d: copies are numbered from 1", r.Copy)
		}
		if r.Source != "" {
			return source("source", r.Source)
		}
	case KindCopy:
		if r.CopyJob != "" {
			if _, ok := cfg.CopyJob(r.CopyJob); !ok {
				return fieldErr("copy_job", "no copy job %q in %s", r.CopyJob, cfg.File)
			}
			if r.Pool != "" || r.Object != "" || r.Source != "" || r.Client != "" || r.All {
				return fieldErr("copy_job", "a configured copy job selects its objects itself: leave out pool, object, source, client and all")
			}
			return nil
		}
		if r.Pool == "" {
			return fieldErr("copy_job", "a copy needs copy_job (a copy job of %s) or pool (with object, source, client or all)", cfg.File)
		}
		if err := pool("pool", r.Pool); err != nil {
			return err
		}
		if r.Device != "" {
			if _, ok := cfg.Device(r.Device); !ok {
				return fieldErr("device", "no device %q in %s", r.Device, cfg.File)
			}
		}
		if r.Object == "" && r.Source == "" && r.Client == "" && !r.All {
			return fieldErr("object", "select what to copy: object, source, client or all")
		}
		if r.Source != "" {
			return source("source", r.Source)
		}
	case KindVerify:
		for _, s := range r.Sources {
			if err := source("sources", s); err != nil {
				return err
			}
		}
		for _, p := range r.Pools {
			if err := pool("pools", p); err != nil {
				return err
			}
		}
	case KindPrune:
	case "":
		return fieldErr("kind", "missing: give backup, restore, copy, verify or prune")
	default:
		return fieldErr("kind", "%q: give backup, restore, copy, verify or prune", r.Kind)
	}
	return nil
}
