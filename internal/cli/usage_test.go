package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/volume"
)

// TestUnknownKindIsUsageError: `ls bogus` (and `catalog bogus`) is a usage
// error naming the valid kinds, not the help with exit 0.
func TestUnknownKindIsUsageError(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		kinds []string
	}{
		{[]string{"ls", "bogus"}, []string{"objects", "copies", "volumes", "files", "jobs"}},
		{[]string{"catalog", "bogus"}, []string{"check"}},
	} {
		code, out, errs := run(t, tc.args...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want %d\n%s%s", tc.args, code, ExitUsage, out, errs)
			continue
		}
		if !strings.Contains(errs, `"bogus"`) {
			t.Errorf("%v: error does not name the argument: %s", tc.args, errs)
		}
		for _, k := range tc.kinds {
			if !strings.Contains(errs, k) {
				t.Errorf("%v: error does not name kind %s: %s", tc.args, k, errs)
			}
		}
	}
	// Without a kind the help is still shown.
	if code, out, errs := run(t, "ls"); code != ExitOK || !strings.Contains(out, "Available Commands") {
		t.Errorf("ls: exit %d, want the help\n%s%s", code, out, errs)
	}
}

// TestLsVolumesUnknownPool: --pool naming a pool neither the configuration
// nor the catalog has is a usage error naming the configured pools.
func TestLsVolumesUnknownPool(t *testing.T) {
	_, cfg, _ := smallSetup(t, 3)
	code, out, errs := run(t, "-c", cfg, "ls", "volumes", "--pool", "nosuch")
	if code != ExitUsage || !strings.Contains(errs, `"nosuch"`) || !strings.Contains(errs, "configured pools are: default") {
		t.Fatalf("exit %d, want %d naming the configured pools\n%s%s", code, ExitUsage, out, errs)
	}
	code, out, errs = run(t, "-c", cfg, "ls", "volumes", "--pool", "default")
	if code != ExitOK || !strings.Contains(out, "default") {
		t.Fatalf("--pool default: exit %d\n%s%s", code, out, errs)
	}
}

// TestCopyFlagNeedsPositiveNumber: every --copy flag takes a copy number,
// 1 or more: 0, -3 or a word are usage errors before anything is read.
func TestCopyFlagNeedsPositiveNumber(t *testing.T) {
	dir, cfg, _ := smallSetup(t, 3)
	obj := onlyObject(t, cfg)
	for _, n := range []string{"-3", "0", "x"} {
		for _, args := range [][]string{
			{"cat", obj, "--copy", n},
			{"restore", "--object", obj, "--to", dir + "/out", "--copy", n},
		} {
			code, out, errs := run(t, append([]string{"-c", cfg}, args...)...)
			if code != ExitUsage || !strings.Contains(errs, "copy number is 1 or more") {
				t.Errorf("%v: exit %d, want %d and what a copy number is\n%.300s%s", args, code, ExitUsage, out, errs)
			}
		}
	}
	if code, out, errs := run(t, "-c", cfg, "cat", obj, "--copy", "1"); code != ExitOK || len(out) == 0 {
		t.Errorf("cat --copy 1: exit %d, %d bytes\n%s", code, len(out), errs)
	}
}

// onlyObject is the ID of the one object of the configuration cfg.
func onlyObject(t *testing.T, cfg string) string {
	t.Helper()
	code, out, errs := run(t, "-c", cfg, "--json", "ls", "objects")
	if code != 0 {
		t.Fatalf("ls objects: exit %d\n%s", code, errs)
	}
	var objs []struct{ ID string }
	if err := json.Unmarshal([]byte(out), &objs); err != nil || len(objs) != 1 {
		t.Fatalf("ls objects: %v, %d objects\n%s", err, len(objs), out)
	}
	return objs[0].ID
}

// TestBackupEmptyLevel: --level ” is a usage error, not a full backup.
func TestBackupEmptyLevel(t *testing.T) {
	_, cfg, _ := smallSetup(t, 3)
	code, out, errs := run(t, "-c", cfg, "backup", "--level", "")
	if code != ExitUsage || !strings.Contains(errs, "--level is empty") {
		t.Fatalf("exit %d, want %d\n%s%s", code, ExitUsage, out, errs)
	}
	code, out, _ = run(t, "-c", cfg, "--json", "ls", "jobs")
	if code != 0 || strings.Count(out, `"kind": "backup"`) != 1 {
		t.Fatalf("ls jobs: exit %d; want only the setup's backup\n%s", code, out)
	}
}

// TestInitSourceName: init keeps a source name exactly as given or
// refuses it, saying which characters a name may have; it never writes a
// configuration with another name.
func TestInitSourceName(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "daisy.yaml")
	for _, args := range [][]string{
		{"--source", "x/y=" + dir},
		{"--source", "a b=" + dir},
		{"--source", "-a=" + dir},
		{"--source", "D=" + dir, "--source", "D=" + dir},
	} {
		code, out, errs := run(t, append([]string{"-c", cfg, "init"}, args...)...)
		if code != ExitUsage || !strings.Contains(errs, "--source") {
			t.Errorf("init %v: exit %d, want %d\n%s%s", args, code, ExitUsage, out, errs)
		}
		if len(args) == 2 && !strings.Contains(errs, `use letters, digits, "_", "-" and "."`) {
			t.Errorf("init %v: the error does not say which characters a name may have: %s", args, errs)
		}
		if _, err := os.Stat(cfg); err == nil {
			t.Fatalf("init %v wrote %s", args, cfg)
		}
	}
	long := strings.Repeat("a", 100)
	if code, out, errs := run(t, "-c", cfg, "init", "--source", long+"="+dir); code != 0 {
		t.Fatalf("init of a 100-character name: exit %d\n%s%s", code, out, errs)
	}
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Sources) != 1 || c.Sources[0].Name != long {
		t.Fatalf("sources %+v, want the one named %s", c.Sources, long)
	}
}

// lsVolumes is `ls volumes --json` of cfg.
func lsVolumes(t *testing.T, cfg string) []catalog.Volume {
	t.Helper()
	code, out, errs := run(t, "-c", cfg, "--json", "ls", "volumes")
	if code != 0 {
		t.Fatalf("ls volumes: exit %d\n%s", code, errs)
	}
	var vs []catalog.Volume
	if err := json.Unmarshal([]byte(out), &vs); err != nil || len(vs) == 0 {
		t.Fatalf("ls volumes: %v, %d volumes\n%s", err, len(vs), out)
	}
	return vs
}

// TestWrongVolumeNamesIDs: a volume file that holds another installation's
// volume of the same label is named with both IDs, not "holds volume
// default-0001, not default-0001".
func TestWrongVolumeNamesIDs(t *testing.T) {
	_, cfgA, _ := smallSetup(t, 3)
	_, cfgB, _ := smallSetup(t, 3)
	va, vb := lsVolumes(t, cfgA)[0], lsVolumes(t, cfgB)[0]
	if va.Label != vb.Label || va.ID == vb.ID {
		t.Fatalf("want two volumes of one label: %+v %+v", va, vb)
	}
	data, err := os.ReadFile(vb.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(va.Path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	obj := onlyObject(t, cfgA)
	for _, args := range [][]string{{"cat", obj}, {"verify"}} {
		code, out, errs := run(t, append([]string{"-c", cfgA}, args...)...)
		if code == 0 || !strings.Contains(out+errs, va.ID) || !strings.Contains(out+errs, vb.ID) {
			t.Errorf("%v: exit %d; want a failure naming volume IDs %s and %s\n%.2000s\n%s", args, code, va.ID, vb.ID, out, errs)
		}
	}
}

// TestLsFilesJSONTypeNames: ls files --json and find --json give the type
// of an entry as a name ("dir", "file"), not the tar type's number.
func TestLsFilesJSONTypeNames(t *testing.T) {
	_, cfg, data := smallSetup(t, 3)
	for _, args := range [][]string{{"ls", "files", "--source", "D", "-R"}, {"find", "*"}} {
		code, out, errs := run(t, append([]string{"-c", cfg, "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, errs)
		}
		var raw []map[string]any
		if err := json.Unmarshal([]byte(out), &raw); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		types := map[any]int{}
		for _, r := range raw {
			types[r["type"]]++
			if args[0] == "find" && (r["source"] != "D" || r["started"] == nil) {
				t.Errorf("find: a match without its source or start: %v", r)
			}
		}
		if types["file"] == 0 || types["dir"] == 0 {
			t.Errorf("%v: types %v; want \"file\" and \"dir\" among them", args, types)
		}
		for ty := range types {
			switch ty {
			case "file", "dir", "symlink", "hardlink", "char", "block", "fifo", "deleted":
			default:
				t.Errorf("%v: type %v (%T) is not a name", args, ty, ty)
			}
		}
	}
	var fs []catalog.File
	_, out, _ := run(t, "-c", cfg, "--json", "ls", "files", "--source", "D", data)
	if err := json.Unmarshal([]byte(out), &fs); err != nil || len(fs) == 0 || fs[0].Type != '0' && fs[0].Type != '5' {
		t.Fatalf("ls files --json does not read back: %v %+v", err, fs)
	}
}

// TestVersion: daisy --version prints the version and the volume format.
func TestVersion(t *testing.T) {
	code, out, errs := run(t, "--version")
	want := fmt.Sprintf("volume format %d", volume.FormatVersion)
	if code != 0 || !strings.HasPrefix(out, "daisy "+version) || !strings.Contains(out, want) {
		t.Fatalf("exit %d, %q; want \"daisy %s ... %s\"\n%s", code, out, version, want, errs)
	}
}

// TestRewriteRecyclableVolume: refresh or demux of a volume with nothing
// live on it (recyclable after a demux) leaves it recyclable, records no
// job and says there was nothing to do, not "job 0".
func TestRewriteRecyclableVolume(t *testing.T) {
	_, cfg, _ := smallSetup(t, 3)
	vol := lsVolumes(t, cfg)[0]
	if code, out, errs := run(t, "-c", cfg, "demux", vol.Label); code != 0 {
		t.Fatalf("demux %s: exit %d\n%s%s", vol.Label, code, out, errs)
	}
	state := func() string {
		for _, v := range lsVolumes(t, cfg) {
			if v.ID == vol.ID {
				return v.State
			}
		}
		t.Fatalf("volume %s is gone", vol.Label)
		return ""
	}
	if st := state(); st != "recyclable" {
		t.Fatalf("demuxed volume is %s, want recyclable", st)
	}
	_, jobsBefore, _ := run(t, "-c", cfg, "--json", "ls", "jobs")
	for _, kind := range []string{"refresh", "demux"} {
		code, out, errs := run(t, "-c", cfg, kind, vol.Label)
		if code != 0 || strings.Contains(out, "job 0") || !strings.Contains(out, "nothing to do") {
			t.Errorf("%s of a recyclable volume: exit %d\n%s%s", kind, code, out, errs)
		}
		if st := state(); st != "recyclable" {
			t.Errorf("%s of a recyclable volume made it %s", kind, st)
		}
	}
	if _, jobsAfter, _ := run(t, "-c", cfg, "--json", "ls", "jobs"); jobsAfter != jobsBefore {
		t.Errorf("jobs were recorded for nothing:\n%s\nbefore:\n%s", jobsAfter, jobsBefore)
	}
}

// TestPruneWithoutRetention: prune with no retention anywhere says there
// is nothing to do, not "prune job 0".
func TestPruneWithoutRetention(t *testing.T) {
	_, cfg, _ := smallSetup(t, 3)
	code, out, errs := run(t, "-c", cfg, "prune")
	if code != 0 || strings.Contains(out, "job 0") || !strings.Contains(out, "nothing to do") {
		t.Fatalf("prune: exit %d\n%s%s", code, out, errs)
	}
}

// A word that is no command of a command that only groups others is a
// usage error naming its commands, not cobra's help with exit 0 (a
// script's "daisy cert list" would seem to have worked); the group alone
// still prints its help.
func TestUnknownSubcommandIsUsageError(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cert", "list"}, `daisy cert has no command "list": its commands are init, issue, ls`},
		{[]string{"token", "show"}, `daisy token has no command "show": its commands are create, ls, revoke`},
	} {
		code, _, stderr := run(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("daisy %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
	code, stdout, _ := run(t, "cert")
	if code != 0 || !strings.Contains(stdout, "Available Commands:") {
		t.Errorf("daisy cert: exit %d, output %q; want its help", code, stdout)
	}
}
