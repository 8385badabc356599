package config

import (
	"strings"
	"testing"
)

func TestExtentSize(t *testing.T) {
	base := "sources:\n  - {name: S, paths: [/tmp]}\ndevices:\n  - {name: t, type: vtape}\nbackup_group:\n  - name: A\n    device: t\n%s    buffers: [{name: B, source: S}]\n"
	c, err := Parse("daisy.yaml", []byte("defaults: {extent_size: 8MiB}\n"+strings.Replace(base, "%s", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Defaults.ExtentSize != 8*MiB || c.BackupGroup[0].ExtentSize != 8*MiB {
		t.Fatalf("extent sizes %d, %d; want 8MiB from defaults", c.Defaults.ExtentSize, c.BackupGroup[0].ExtentSize)
	}
	c, err = Parse("daisy.yaml", []byte(strings.Replace(base, "%s", "    extent_size: 2MiB\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if c.BackupGroup[0].ExtentSize != 2*MiB {
		t.Fatalf("media agent extent size %d, want 2MiB", c.BackupGroup[0].ExtentSize)
	}
	_, err = Parse("daisy.yaml", []byte(strings.Replace(base, "%s", "    extent_size: 64KiB\n", 1)))
	if err == nil || !strings.Contains(err.Error(), "daisy.yaml:8:18: extent_size of media agent A 64KiB is below the minimum of 1MiB") {
		t.Fatalf("extent_size below 1MiB: %v", err)
	}
}
