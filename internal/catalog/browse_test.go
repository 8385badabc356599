package catalog

import (
	"context"
	"errors"
	"path"
	"strings"
	"testing"
	"time"
)

// addObjectAt records a complete object of source started at the given
// time, holding the given paths (directories end in "/").
func addObjectAt(t testing.TB, c *Catalog, id, source string, started time.Time, state string, paths ...string) {
	t.Helper()
	ctx := context.Background()
	if err := c.AddObject(ctx, Object{ID: id, Source: source, Client: "alpha", Level: "full", Started: started}); err != nil {
		t.Fatalf("AddObject: %v", err)
	}
	var fs []File
	for i, p := range paths {
		name := p
		if p != "/" {
			name = strings.TrimSuffix(p, "/")
		}
		f := File{ObjectID: id, Path: name, Type: '0', Size: int64(len(p)), Offset: int64(i) * 512}
		if strings.HasSuffix(p, "/") {
			f.Type = '5'
		}
		fs = append(fs, f)
	}
	if err := c.AddFiles(ctx, fs); err != nil {
		t.Fatalf("AddFiles: %v", err)
	}
	if state != ObjectWriting {
		if err := c.FinishObject(ctx, id, 1024, 1, int64(len(fs)), "sha256:00", state, started.Add(time.Minute)); err != nil {
			t.Fatalf("FinishObject: %v", err)
		}
	}
	if state == ObjectComplete {
		goodCopy(t, c, id, 1024)
	}
}

func TestObjectAt(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	t0 := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	addObjectAt(t, c, objectID(1), "home", t0, ObjectComplete, "/h/")
	addObjectAt(t, c, objectID(2), "home", t0.Add(24*time.Hour), ObjectComplete, "/h/")
	addObjectAt(t, c, objectID(3), "home", t0.Add(36*time.Hour), ObjectFailed, "/h/")
	addObjectAt(t, c, objectID(4), "home", t0.Add(40*time.Hour), ObjectWriting, "/h/")
	addObjectAt(t, c, objectID(5), "etc", t0.Add(30*time.Hour), ObjectComplete, "/e/")
	addObjectAt(t, c, objectID(6), "home", t0.Add(48*time.Hour), ObjectComplete, "/h/")
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{t0.Add(-time.Nanosecond), ""},
		{t0, objectID(1)}, // "not after": the start time itself counts
		{t0.Add(time.Hour), objectID(1)},
		{t0.Add(24*time.Hour - 1), objectID(1)},
		{t0.Add(24 * time.Hour), objectID(2)},
		{t0.Add(45 * time.Hour), objectID(2)}, // failed and unfinished objects do not count; nor other sources
		{t0.Add(48 * time.Hour), objectID(6)},
		{t0.Add(1000 * time.Hour), objectID(6)},
	} {
		o, err := c.ObjectAt(ctx, "home", tc.at)
		if tc.want == "" {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("ObjectAt(%v) = %s, %v; want ErrNotFound", tc.at, o.ID, err)
			}
			continue
		}
		if err != nil || o.ID != tc.want {
			t.Errorf("ObjectAt(%v) = %s, %v; want %s", tc.at, o.ID, err, tc.want)
		}
	}
	if _, err := c.ObjectAt(ctx, "nosuch", t0.Add(1000*time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Errorf("ObjectAt(nosuch) = %v, want ErrNotFound", err)
	}
}

func TestRoots(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	now := time.Now()
	// Names that sort between a root and its subtree ("a.b" < "a/"),
	// a root that is a file, and a root below nothing recorded.
	addObjectAt(t, c, objectID(1), "s", now, ObjectComplete,
		"/srv/a/", "/srv/a/x", "/srv/a/y/", "/srv/a/y/z", "/srv/a.b/", "/srv/a.b/c", "/srv/a-", "/srv/a0/", "/srv/a0/q",
		"/etc/hosts", "/home/u/", "/home/u/.profile")
	got, err := c.Roots(ctx, objectID(1))
	if want := "/etc/hosts /home/u /srv/a /srv/a- /srv/a.b /srv/a0"; err != nil || paths(got) != want {
		t.Fatalf("Roots = [%s], %v; want [%s]", paths(got), err, want)
	}
	if got[0].Type != '0' || got[1].Type != '5' {
		t.Errorf("Roots types %c %c", got[0].Type, got[1].Type)
	}
	// Relative paths, and a root "/" holding everything.
	addObjectAt(t, c, objectID(2), "s", now, ObjectComplete, "b/", "b/c", "a", "c/d/")
	if got, err := c.Roots(ctx, objectID(2)); err != nil || paths(got) != "a b c/d" {
		t.Fatalf("Roots(relative) = [%s], %v", paths(got), err)
	}
	addObjectAt(t, c, objectID(3), "s", now, ObjectComplete, "/", "/a/", "/a/b", "/z")
	if got, err := c.Roots(ctx, objectID(3)); err != nil || paths(got) != "/" {
		t.Fatalf("Roots(/) = [%s], %v", paths(got), err)
	}
	addObjectAt(t, c, objectID(4), "s", now, ObjectComplete)
	if got, err := c.Roots(ctx, objectID(4)); err != nil || len(got) != 0 {
		t.Fatalf("Roots(empty object) = [%s], %v", paths(got), err)
	}
	if _, err := c.Roots(ctx, objectID(99)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Roots(unknown) = %v, want ErrNotFound", err)
	}
}

func foundRows(fs []Found) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.ObjectID[len(f.ObjectID)-1:]+":"+f.Path)
	}
	return strings.Join(s, " ")
}

func TestFind(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	t0 := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	addObjectAt(t, c, objectID(1), "etc", t0, ObjectComplete,
		"/etc/", "/etc/a.conf", "/etc/b.txt", "/etc/sub/", "/etc/sub/c.conf", "/etc.conf/", "/etc.conf/d")
	addObjectAt(t, c, objectID(2), "home", t0.Add(time.Hour), ObjectComplete,
		"/home/u/", "/home/u/x.conf", "/home/u/etc/", "/home/u/etc/e.conf", "/home/u/[odd].conf")
	addObjectAt(t, c, objectID(3), "etc", t0.Add(2*time.Hour), ObjectComplete, "/etc/", "/etc/a.conf")
	addObjectAt(t, c, objectID(4), "etc", t0.Add(3*time.Hour), ObjectFailed, "/etc/", "/etc/a.conf")
	addObjectAt(t, c, objectID(5), "rel", t0.Add(4*time.Hour), ObjectComplete, "etc/", "etc/f.conf")
	for _, tc := range []struct {
		pattern, source string
		limit           int
		want            string
		more            bool
	}{
		{"*.conf", "", 0, "1:/etc.conf 1:/etc/a.conf 1:/etc/sub/c.conf 2:/home/u/[odd].conf 2:/home/u/etc/e.conf 2:/home/u/x.conf 3:/etc/a.conf 5:etc/f.conf", false},
		{"*.conf", "etc", 0, "1:/etc.conf 1:/etc/a.conf 1:/etc/sub/c.conf 3:/etc/a.conf", false},
		{"?.conf", "home", 0, "2:/home/u/etc/e.conf 2:/home/u/x.conf", false},
		{"[abc].conf", "", 0, "1:/etc/a.conf 1:/etc/sub/c.conf 3:/etc/a.conf", false},
		{`\[odd\].conf`, "", 0, "2:/home/u/[odd].conf", false},
		{"etc", "", 0, "1:/etc 2:/home/u/etc 3:/etc 5:etc", false}, // a directory by its name
		{"*.conf", "", 2, "1:/etc.conf 1:/etc/a.conf", true},
		{"*.conf", "etc", 4, "1:/etc.conf 1:/etc/a.conf 1:/etc/sub/c.conf 3:/etc/a.conf", false},
		// Whole paths: "*" does not cross "/".
		{"/etc/*.conf", "", 0, "1:/etc/a.conf 3:/etc/a.conf", false},
		{"/etc/*/*.conf", "", 0, "1:/etc/sub/c.conf", false},
		{"etc/*.conf", "", 0, "1:/etc/a.conf 3:/etc/a.conf 5:etc/f.conf", false}, // no leading "/": either form
		{"*/etc/*.conf", "", 0, "1:/etc/a.conf 3:/etc/a.conf", false},            // no literal prefix: a scan; "*" matches ""
		{"*/u/etc/*.conf", "", 0, "2:/home/u/etc/e.conf", false},                 // "*" is "home" of home/u/...
		{"/home/u/etc", "", 0, "2:/home/u/etc", false},
		{"/etc/", "", 0, "", false}, // a stored directory has no trailing slash to match
		{"/nosuch/*", "", 0, "", false},
		{"*.conf", "nosuch", 0, "", false},
	} {
		got, more, err := c.Find(ctx, FindQuery{Pattern: tc.pattern, Source: tc.source, Limit: tc.limit})
		if err != nil || foundRows(got) != tc.want || more != tc.more {
			t.Errorf("Find(%q, source %q, limit %d) = [%s] more %v, %v\nwant [%s] more %v",
				tc.pattern, tc.source, tc.limit, foundRows(got), more, err, tc.want, tc.more)
		}
	}
	got, _, err := c.Find(ctx, FindQuery{Pattern: "x.conf"})
	if err != nil || len(got) != 1 || got[0].Source != "home" || !got[0].Started.Equal(t0.Add(time.Hour)) || got[0].Size != int64(len("/home/u/x.conf")) {
		t.Errorf("Find(x.conf) = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "[", "/etc/[a"} {
		if _, _, err := c.Find(ctx, FindQuery{Pattern: bad}); !errors.Is(err, path.ErrBadPattern) {
			t.Errorf("Find(%q) = %v, want ErrBadPattern", bad, err)
		}
	}
}
