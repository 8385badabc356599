package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// pos is a position in the file, 1-based.
type pos struct{ line, col int }

func (p pos) valid() bool { return p.line > 0 }

// tokenPos is the position of a token; (1,1) when there is none.
func tokenPos(tk *token.Token) pos {
	if tk == nil || tk.Position == nil || tk.Position.Line < 1 {
		return pos{1, 1}
	}
	col := tk.Position.Column
	if col < 1 {
		col = 1
	}
	return pos{tk.Position.Line, col}
}

// nodePos is where a node starts: for a block mapping its first key, else
// its first token.
func nodePos(n ast.Node) pos {
	switch v := n.(type) {
	case nil:
		return pos{1, 1}
	case *ast.MappingNode:
		if !v.IsFlowStyle && len(v.Values) > 0 && v.Values[0].Key != nil {
			return nodePos(v.Values[0].Key)
		}
	case *ast.MappingValueNode:
		if v.Key != nil {
			return nodePos(v.Key)
		}
	case *ast.MappingKeyNode:
		if v.Value != nil {
			return nodePos(v.Value)
		}
	}
	return tokenPos(n.GetToken())
}

// stepsPerByte and minSteps bound the work spent on one file, so that
// aliases that expand exponentially ("billion laughs") end with an error,
// not an exhausted machine. A file without aliases needs a few steps per
// node, far below the bound.
const (
	minSteps     = 100000
	stepsPerByte = 20
)

// anchorDef is one "&name" in the file.
type anchorDef struct {
	at    pos
	value ast.Node
}

// decoder walks the AST of one file and collects every problem.
type decoder struct {
	file     string
	errs     Errors
	anchors  map[string][]anchorDef
	steps    int
	maxSteps int
	tooBig   bool
}

// maxErrors bounds the problems reported for one file.
const maxErrors = 500

func (d *decoder) errorf(p pos, format string, args ...any) {
	if d.tooBig && len(d.errs) > 0 || len(d.errs) > maxErrors {
		return // the file is beyond repair here; enough has been said
	}
	if !p.valid() {
		p = pos{1, 1}
	}
	if len(d.errs) == maxErrors {
		format, args = "more than %d problems; fix these first", []any{maxErrors}
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: p.line, Column: p.col, Msg: fmt.Sprintf(format, args...)})
}

// collectAnchors records every anchor of the tree so that aliases resolve
// wherever the walk meets them.
func (d *decoder) collectAnchors(n ast.Node, depth int) {
	if n == nil || depth > 10000 {
		return
	}
	switch v := n.(type) {
	case *ast.AnchorNode:
		if v.Name != nil {
			name := v.Name.GetToken().Value
			d.anchors[name] = append(d.anchors[name], anchorDef{at: tokenPos(v.Start), value: v.Value})
		}
		d.collectAnchors(v.Value, depth+1)
	case *ast.TagNode:
		d.collectAnchors(v.Value, depth+1)
	case *ast.MappingNode:
		for _, mv := range v.Values {
			d.collectAnchors(mv, depth+1)
		}
	case *ast.MappingValueNode:
		d.collectAnchors(v.Key, depth+1)
		d.collectAnchors(v.Value, depth+1)
	case *ast.MappingKeyNode:
		d.collectAnchors(v.Value, depth+1)
	case *ast.SequenceNode:
		for _, x := range v.Values {
			d.collectAnchors(x, depth+1)
		}
	}
}

// resolve looks through anchors, tags and aliases to the node that holds the
// value. It returns nil for a missing or null value.
func (d *decoder) resolve(n ast.Node) ast.Node {
	for hops := 0; n != nil; hops++ {
		if d.tooBig {
			return nil
		}
		d.steps++
		if d.steps > d.maxSteps || hops > 100 {
			if !d.tooBig {
				d.errorf(nodePos(n), "the file expands to too much data (aliases that refer to aliases?); write the values out")
				d.tooBig = true
			}
			return nil
		}
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.AliasNode:
			at := tokenPos(v.Start)
			name := ""
			if v.Value != nil {
				name = v.Value.GetToken().Value
			}
			var target ast.Node
			found := false
			for _, a := range d.anchors[name] {
				if a.at.line < at.line || a.at.line == at.line && a.at.col < at.col {
					target, found = a.value, true
				}
			}
			if !found {
				d.errorf(at, "alias *%s refers to no anchor &%s defined before it; define the anchor first or write the value out", name, name)
				return nil
			}
			n = target
		case *ast.NullNode:
			return nil
		case *ast.DocumentNode:
			n = v.Body
		default:
			return n
		}
	}
	return nil
}

// kindOf names the kind of a resolved node for messages.
func kindOf(n ast.Node) string {
	switch n.(type) {
	case nil:
		return "an empty value"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	}
	return "a " + strings.ToLower(n.Type().String())
}

// scalarText is the text of a scalar node and whether n is one that can be
// read as text (strings, numbers; not booleans, mappings or lists).
func scalarText(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		if v.Value == nil {
			return "", true
		}
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode:
		return v.GetToken().Value, true
	}
	return "", false
}

// field is one key of a mapping with its (resolved) value.
type field struct {
	key   pos
	value ast.Node // nil when the value is null or missing
	vpos  pos      // position of the value, or of the key when there is none
}

// mapping is a YAML mapping being decoded into a struct.
type mapping struct {
	d      *decoder
	at     pos
	label  string // e.g. "media agent BMA124", used in messages
	fields map[string]*field
	order  []string
	// suggested holds the keys offered for unknown keys ("did you mean
	// buffers?"): their absence is then not reported again.
	suggested map[string]bool
	// handled holds keys that do not belong here but were reported with a
	// message of their own; only does not report them again.
	handled map[string]bool
}

// handle marks key as reported already, for only.
func (m *mapping) handle(key string) {
	if m.handled == nil {
		m.handled = map[string]bool{}
	}
	m.handled[key] = true
}

// misspelled reports whether an unknown key of this mapping looks like key,
// so that a missing key is not reported twice.
func (m *mapping) misspelled(key string) bool { return m.suggested[key] }

// mapping reads n as a mapping; merge keys ("<<: *defaults") are applied,
// keys written out win over merged ones. It returns nil if n is not a
// mapping; the caller reports that.
func (d *decoder) mapping(n ast.Node) *mapping {
	var values []*ast.MappingValueNode
	switch v := n.(type) {
	case *ast.MappingNode:
		values = v.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{v}
	default:
		return nil
	}
	m := &mapping{d: d, at: nodePos(n), fields: map[string]*field{}}
	var merged []*ast.MappingValueNode
	for _, mv := range values {
		if mv == nil || mv.Key == nil {
			continue
		}
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			merged = append(merged, d.mergeValues(mv, 0)...)
			continue
		}
		m.add(mv)
	}
	for _, mv := range merged {
		if name, ok := d.keyName(mv, false); ok {
			if _, exists := m.fields[name]; !exists {
				m.add(mv)
			}
		}
	}
	return m
}

// mergeValues returns the key/value pairs that a merge key brings in,
// following merge keys inside the merged mappings; earlier pairs win.
func (d *decoder) mergeValues(mv *ast.MappingValueNode, depth int) []*ast.MappingValueNode {
	if depth > 20 {
		if !d.tooBig {
			d.errorf(nodePos(mv.Key), "merge keys (<<) nest too deeply here; write the values out")
			d.tooBig = true
		}
		return nil
	}
	var out []*ast.MappingValueNode
	add := func(n ast.Node) bool {
		var values []*ast.MappingValueNode
		switch v := d.resolve(n).(type) {
		case *ast.MappingNode:
			values = v.Values
		case *ast.MappingValueNode:
			values = []*ast.MappingValueNode{v}
		default:
			return false
		}
		var nested []*ast.MappingValueNode
		for _, x := range values {
			if x == nil || x.Key == nil {
				continue
			}
			if _, ok := x.Key.(*ast.MergeKeyNode); ok {
				nested = append(nested, d.mergeValues(x, depth+1)...)
				continue
			}
			out = append(out, x)
		}
		out = append(out, nested...)
		return true
	}
	val := d.resolve(mv.Value)
	if seq, ok := val.(*ast.SequenceNode); ok {
		for _, x := range seq.Values {
			if !add(x) {
				d.errorf(nodePos(x), "a merge key (<<) takes a mapping or a list of mappings; remove this entry")
			}
		}
		return out
	}
	if !add(mv.Value) {
		d.errorf(nodePos(mv.Key), "a merge key (<<) takes a mapping or a list of mappings, e.g. <<: *common")
	}
	return out
}

// keyName reads the key of a pair as a string.
func (d *decoder) keyName(mv *ast.MappingValueNode, report bool) (string, bool) {
	k := ast.Node(mv.Key)
	if mk, ok := k.(*ast.MappingKeyNode); ok {
		k = mk.Value
	}
	r := d.resolve(k)
	if s, ok := scalarText(r); ok {
		return s, true
	}
	if b, ok := r.(*ast.BoolNode); ok {
		return b.GetToken().Value, true
	}
	if report {
		d.errorf(nodePos(mv.Key), "a key must be a plain word such as name, not %s", kindOf(r))
	}
	return "", false
}

func (m *mapping) add(mv *ast.MappingValueNode) {
	name, ok := m.d.keyName(mv, true)
	if !ok {
		return
	}
	f := &field{key: nodePos(mv.Key), value: m.d.resolve(mv.Value)}
	f.vpos = f.key
	if mv.Value != nil && mv.Value.Type() != ast.NullType {
		f.vpos = nodePos(mv.Value)
	}
	if prev, dup := m.fields[name]; dup {
		m.d.errorf(f.key, "key %q appears twice (first at line %d); remove one of them", name, prev.key.line)
		return
	}
	m.fields[name] = f
	m.order = append(m.order, name)
}

// get returns the field for key, nil when it is absent. A present key with
// a null value is returned with value nil.
func (m *mapping) get(key string) *field {
	return m.fields[key]
}

// only reports every key that is not in allowed, with a suggestion.
func (m *mapping) only(allowed ...string) {
	for _, k := range m.order {
		if contains(allowed, k) || m.handled[k] {
			continue
		}
		f := m.fields[k]
		hint := ""
		if s := suggest(k, allowed); s != "" {
			hint = fmt.Sprintf("did you mean %q? ", s)
			if m.suggested == nil {
				m.suggested = map[string]bool{}
			}
			m.suggested[s] = true
		}
		if m.label == "" {
			m.d.errorf(f.key, "unknown top-level key %q; %svalid keys are %s", k, hint, strings.Join(allowed, ", "))
			continue
		}
		m.d.errorf(f.key, "unknown key %q in %s; %svalid keys are %s", k, m.label, hint, strings.Join(allowed, ", "))
	}
}

// str reads a string value. It returns ok=false when the key is absent,
// null or of the wrong kind (reported).
func (m *mapping) str(key string) (string, pos, bool) {
	f := m.get(key)
	if f == nil || f.value == nil {
		return "", pos{}, false
	}
	s, ok := scalarText(f.value)
	if !ok {
		m.d.errorf(f.vpos, "%s must be a string, not %s", m.of(key), kindOf(f.value))
		return "", f.vpos, false
	}
	return s, f.vpos, true
}

// boolean reads a boolean value (true or false). It returns ok=false when
// the key is absent, null or of the wrong kind (reported).
func (m *mapping) boolean(key string) (bool, pos, bool) {
	f := m.get(key)
	if f == nil || f.value == nil {
		return false, pos{}, false
	}
	b, ok := f.value.(*ast.BoolNode)
	if !ok {
		m.d.errorf(f.vpos, "%s must be true or false, not %s", m.of(key), kindOf(f.value))
		return false, f.vpos, false
	}
	return b.Value, f.vpos, true
}

// Results of mapping.list.
type listState int

const (
	listAbsent listState = iota // the key is absent or null
	listOK                      // a list, possibly empty
	listBad                     // not a list (reported)
)

// list reads a list value: its items, resolved (nil for null items), and
// their positions. A value that is not a list is reported, with example as
// the fix.
func (m *mapping) list(key, example string) ([]ast.Node, []pos, listState) {
	f := m.get(key)
	if f == nil || f.value == nil {
		return nil, nil, listAbsent
	}
	seq, ok := f.value.(*ast.SequenceNode)
	if !ok {
		m.d.errorf(f.vpos, "%s must be a list, not %s; write e.g. %s", m.of(key), kindOf(f.value), example)
		return nil, nil, listBad
	}
	items := make([]ast.Node, len(seq.Values))
	at := make([]pos, len(seq.Values))
	for i, x := range seq.Values {
		at[i] = nodePos(x)
		if (x == nil || x.Type() == ast.NullType) && i < len(seq.Entries) && seq.Entries[i] != nil {
			at[i] = tokenPos(seq.Entries[i].Start)
		}
		items[i] = m.d.resolve(x)
	}
	return items, at, listOK
}

// strList reads a list of strings; ok is false if any entry is not one.
func (m *mapping) strList(key, example string) ([]string, []pos, listState) {
	items, at, st := m.list(key, example)
	if st != listOK {
		return nil, nil, st
	}
	out := make([]string, 0, len(items))
	outAt := make([]pos, 0, len(items))
	for i, x := range items {
		s, ok := scalarText(x)
		if !ok {
			m.d.errorf(at[i], "each entry of %s must be a string, not %s", m.of(key), kindOf(x))
			continue
		}
		out = append(out, s)
		outAt = append(outAt, at[i])
	}
	return out, outAt, listOK
}

// of names a key of this mapping for messages: "device of media agent X".
func (m *mapping) of(key string) string {
	if m.label == "" {
		return key
	}
	return key + " of " + m.label
}

// missing reports whether key is absent or null.
func (m *mapping) missing(key string) bool {
	f := m.fields[key]
	return f == nil || f.value == nil
}

// keyPos is where key is written, or else.
func (m *mapping) keyPos(key string, orElse pos) pos {
	if f := m.fields[key]; f != nil {
		return f.key
	}
	return orElse
}

// size reads a size. ok is false when the key is absent or null, or when
// the value is not a size (reported).
func (m *mapping) size(key string) (int64, pos, bool) {
	s, at, ok := m.str(key)
	if !ok {
		return 0, at, false
	}
	v, err := ParseSize(s)
	if err != nil {
		m.d.errorf(at, "%s: %v", m.of(key), err)
		return 0, at, false
	}
	return v, at, true
}

// suggest returns the allowed key closest to k, or "" if none is close.
func suggest(k string, allowed []string) string {
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "", " ", "").Replace(s))
	}
	best, bestDist := "", 3
	for _, a := range allowed {
		if norm(a) == norm(k) {
			return a
		}
		if dist := levenshtein(strings.ToLower(k), a); dist < bestDist {
			best, bestDist = a, dist
		}
	}
	if best == "" && len(k) >= 3 {
		for _, a := range allowed {
			if strings.HasPrefix(a, strings.ToLower(k)) || strings.HasPrefix(strings.ToLower(k), a) {
				return a
			}
		}
	}
	return best
}

func levenshtein(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sortErrors orders problems by position, keeping the order of problems at
// the same position.
func sortErrors(es Errors) {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Column < es[j].Column
	})
}
