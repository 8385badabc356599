// Package config parses and validates daisy.yaml, the file that declares the
// whole topology of a daisy installation: clients, sources, pools, devices,
// the backup group and the mirror groups with their daisy-chained buffers,
// and the copy jobs: restore groups whose buffers select objects to read
// back, and the copy stages chained behind them.
//
// Every error names file:line:column of the offending YAML node and says
// how to fix it. A file with problems yields an [*Errors] holding all of
// them, not only the first: unknown keys, values of the wrong kind, missing
// keys, duplicate names, bad sizes and durations, references to things that
// do not exist, devices or sources used twice, and malformed chains. It
// also looks at the machine: a catalog that exists is a regular file, no
// catalog or pool is under /dev, /proc or /sys, no two pools share a
// directory, and the buffers of the backup (and of each copy job) fit in
// its memory (MemTotal of /proc/meminfo). A leading UTF-8 byte order mark
// is ignored. Relative paths in the file are relative to the file's
// directory; the API returns absolute, cleaned paths.
//
// A fleet adds the hosts: server (where daisy server listens, its HTTP
// API), an address per client whose daisy agent runs there, and
// media_hosts, each device naming its host; [Config.Fleet] reports a
// server, [CheckAddress] the form of an address. Without them (the
// all-in-one mode) everything is the local host.
//
// Schedules ("schedules:", [Config.Schedules]) are the jobs daisy server
// starts by itself (internal/schedule runs them):
//
//	schedules:
//	  - {name: nightly, cron: "0 1 * * 1-6", job: backup}          # level incremental, every source of the backup group
//	  - {name: weekly-full, cron: "0 1 * * 0", job: backup, level: full, sources: [home]}
//	  - {name: refresh, cron: "CRON_TZ=Europe/Paris 0 3 1 * *", job: copy, copy_job: refresh}
//	  - {name: check, cron: "@weekly", job: verify, sources: [home]}
//	  - {name: expire, cron: "@daily", job: prune, reclaim: true}
//
// cron is a cron line of 5 fields (minute hour day-of-month month
// day-of-week), or 6 with a leading seconds field, or @hourly, @daily,
// @midnight, @weekly, @monthly, @yearly; a "CRON_TZ=Zone/Name " prefix
// sets its time zone (else the server's local one). [ParseCron] reads it
// with github.com/robfig/cron/v3; an error names the field that is wrong.
// job is backup (level full, incremental or differential, default
// incremental; sources, default every source of the backup group), copy
// (copy_job names one of copy_jobs), verify (sources, default every copy)
// or prune (reclaim). A key of another job, an unknown source or copy job,
// a name used twice and a line that never fires are errors.
//
// [Graph] and [Dot] draw a topology in the shape of figure 2 of the patent,
// [GraphCopyJob] and [DotCopyJob] a copy job in the shape of figure 5, and
// [InitTemplate] writes a commented, working starting point.
package config
