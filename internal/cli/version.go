package cli

import (
	"fmt"
	"runtime/debug"

	"daisy/internal/jobs"
)

// version is daisy's version, set at build time with
// -ldflags "-X daisy/internal/cli.version=1.2.3"; "dev" otherwise.
var version = "dev"

// versionString is what `daisy --version` prints: the version (with the
// VCS revision the binary was built from, when Go recorded one) and the
// volume format version it writes and reads.
func versionString() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		var rev, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = "+modified"
				}
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			v += " (" + rev + modified + ")"
		}
	}
	return fmt.Sprintf("daisy %s, volume format %d\n", v, jobs.FormatVersion)
}
