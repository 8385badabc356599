package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestParseStripsBOM: a leading UTF-8 byte order mark is not part of the
// first key; errors after it keep their line:column.
func TestParseStripsBOM(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "daisy.yaml")
	data := InitTemplate(InitOptions{Host: "h", Sources: []InitSource{{Name: "D", Path: dir}}})
	c, err := Parse(file, append([]byte("\ufeff"), data...))
	if err != nil {
		t.Fatalf("with a BOM: %v", err)
	}
	if c.Catalog.SQLite != filepath.Join(dir, "state", "catalog.db") {
		t.Fatalf("catalog %q", c.Catalog.SQLite)
	}
	_, err = Parse(file, []byte("\ufeffcatalogue:\n  sqlite: x\n"))
	if err == nil || !strings.Contains(err.Error(), `:1:1: unknown top-level key "catalogue"`) {
		t.Fatalf("want the unknown key at 1:1 without the BOM, got %v", err)
	}
}
