package config

import (
	"strings"
	"testing"
)

func TestSourceCompression(t *testing.T) {
	for value, want := range map[string]string{"zstd": "zstd", "none": ""} {
		c, err := Parse("daisy.yaml", []byte("sources:\n  - {name: s, paths: [/x], compression: "+value+"}\n"))
		if err != nil {
			t.Fatalf("compression %s: %v", value, err)
		}
		if got := c.Sources[0].Compression; got != want {
			t.Fatalf("compression %s: got %q, want %q", value, got, want)
		}
	}
	_, err := Parse("daisy.yaml", []byte("sources:\n  - name: s\n    paths: [/x]\n    compression: lz4\n"))
	if err == nil || !strings.Contains(err.Error(), `daisy.yaml:4:18: compression "lz4" of source s is not known`) {
		t.Fatalf("compression lz4: %v", err)
	}
}
