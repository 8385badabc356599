// Package archtest checks the layering of daisy's packages from their
// import declarations (acceptance 1 of issue 10): rules that hold for
// every non-test Go file of the module. Each rule is a test of its own;
// add one with the files (goFiles) and a check of their imports.
package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

const module = "daisy/"

// goFile is one Go file of the module with its imports.
type goFile struct {
	path    string // relative to the module root, slash-separated
	pkg     string // import path of its package (daisy/internal/x)
	test    bool   // a _test.go file
	imports []string
}

// goFiles parses the import declarations of every Go file of the module
// (not testdata, not hidden directories).
func goFiles(t *testing.T) []goFile {
	t.Helper()
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	root := filepath.Clean(filepath.Join(filepath.Dir(here), "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root %s: %v", root, err)
	}
	var out []goFile
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		gf := goFile{path: rel, pkg: module + filepath.ToSlash(filepath.Dir(rel)), test: strings.HasSuffix(name, "_test.go")}
		for _, im := range f.Imports {
			s, err := strconv.Unquote(im.Path.Value)
			if err != nil {
				return err
			}
			gf.imports = append(gf.imports, s)
		}
		out = append(out, gf)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 100 {
		t.Fatalf("only %d Go files found under %s", len(out), root)
	}
	return out
}

func under(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

const deviceDir = module + "internal/device"

// Only packages under internal/device name a device implementation. The
// implementations are the packages the registry (internal/device/devices)
// imports to register them, with their subpackages (a fake driver, a test
// server); the rest of daisy reaches them through the registry. The
// fault wrapper and the conformance suite are for tests: no product file
// imports them, wherever it is.
func TestOnlyDevicePackagesNameImplementations(t *testing.T) {
	files := goFiles(t)
	registry := deviceDir + "/devices"
	impls := map[string]bool{}
	for _, f := range files {
		if f.pkg != registry || f.test {
			continue
		}
		for _, im := range f.imports {
			if under(im, deviceDir) && im != deviceDir {
				impls[im] = true
			}
		}
	}
	if !impls[deviceDir+"/vtape"] {
		t.Fatalf("the registry %s imports no vtape (%v): the walk is broken", registry, impls)
	}
	isImpl := func(im string) bool {
		for p := range impls {
			if under(im, p) {
				return true
			}
		}
		return false
	}
	testOnly := map[string]bool{deviceDir + "/fault": true, deviceDir + "/devicetest": true, deviceDir + "/tape/sttest": true, deviceDir + "/s3/s3test": true}
	for _, f := range files {
		if f.test {
			continue
		}
		for _, im := range f.imports {
			switch {
			case testOnly[im] && !testOnly[f.pkg]:
				t.Errorf("%s imports %s, which is for tests only", f.path, im)
			case isImpl(im) && !under(f.pkg, deviceDir):
				t.Errorf("%s imports the device implementation %s: outside internal/device, use internal/device/devices", f.path, im)
			}
		}
	}
}

// The command line reaches the catalog and the volumes only through jobs:
// no product file of internal/cli imports internal/catalog,
// internal/volume or a package under internal/device. (Its tests may:
// they look at what a command did.)
func TestCLIReachesCatalogAndVolumesThroughJobs(t *testing.T) {
	cli := module + "internal/cli"
	seen := 0
	for _, f := range goFiles(t) {
		if f.pkg != cli || f.test {
			continue
		}
		seen++
		for _, im := range f.imports {
			if im == module+"internal/catalog" || im == module+"internal/volume" || under(im, deviceDir) {
				t.Errorf("%s imports %s: the command line reaches catalog, volumes and devices through internal/jobs", f.path, im)
			}
		}
	}
	if seen < 10 {
		t.Fatalf("only %d files of %s found: the walk is broken", seen, cli)
	}
}

// The HTTP API reaches the catalog and the volumes only through jobs, as
// the command line does: no product file of internal/api imports
// internal/catalog, internal/volume or a package under internal/device.
func TestAPIReachesCatalogAndVolumesThroughJobs(t *testing.T) {
	api := module + "internal/api"
	seen := 0
	for _, f := range goFiles(t) {
		if f.pkg != api || f.test {
			continue
		}
		seen++
		for _, im := range f.imports {
			if im == module+"internal/catalog" || im == module+"internal/volume" || under(im, deviceDir) {
				t.Errorf("%s imports %s: the API reaches catalog, volumes and devices through internal/jobs", f.path, im)
			}
		}
	}
	if seen < 5 {
		t.Fatalf("only %d files of %s found: the walk is broken", seen, api)
	}
}
