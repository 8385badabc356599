package catalog

import (
	"encoding/json"
	"fmt"
	"time"
)

// fileTypeNames name the tar types of File.Type in JSON (ls files --json,
// find --json): "file", not 48.
var fileTypeNames = map[byte]string{
	'0':         "file",
	'1':         "hardlink",
	'2':         "symlink",
	'3':         "char",
	'4':         "block",
	'5':         "dir",
	'6':         "fifo",
	TypeDeleted: "deleted",
}

// FileTypeName is the JSON name of a tar type: "file", "dir", "symlink",
// "hardlink", "char", "block", "fifo" or "deleted"; another type is its
// one character.
func FileTypeName(t byte) string {
	if t == 0 {
		t = '0' // old tar's regular file
	}
	if n, ok := fileTypeNames[t]; ok {
		return n
	}
	return string(rune(t))
}

// fileJSON is File with the type as a name.
type fileJSON struct {
	fileNoMethods
	Type string `json:"type"`
}

// fileNoMethods is File without its JSON methods (no recursion).
type fileNoMethods File

// MarshalJSON writes the file with its type as a name ("dir").
func (f File) MarshalJSON() ([]byte, error) {
	return json.Marshal(fileJSON{fileNoMethods(f), FileTypeName(f.Type)})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (f *File) UnmarshalJSON(b []byte) error {
	var j fileJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*f = File(j.fileNoMethods)
	for t, n := range fileTypeNames {
		if n == j.Type {
			f.Type = t
			return nil
		}
	}
	if len(j.Type) != 1 {
		return fmt.Errorf("catalog: file %s: unknown type %q", f.Path, j.Type)
	}
	f.Type = j.Type[0]
	return nil
}

// foundJSON is Found with the file's type as a name (Found would
// otherwise take File's MarshalJSON and lose its source and start).
type foundJSON struct {
	Source  string    `json:"source"`
	Started time.Time `json:"started"`
	fileNoMethods
	Type string `json:"type"`
}

// MarshalJSON writes the match with its type as a name.
func (f Found) MarshalJSON() ([]byte, error) {
	return json.Marshal(foundJSON{f.Source, f.Started, fileNoMethods(f.File), FileTypeName(f.Type)})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (f *Found) UnmarshalJSON(b []byte) error {
	var j struct {
		Source  string    `json:"source"`
		Started time.Time `json:"started"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	f.Source, f.Started = j.Source, j.Started
	return f.File.UnmarshalJSON(b)
}
