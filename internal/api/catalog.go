package api

import (
	"errors"
	"fmt"
	"net/http"

	"daisy/internal/jobs"
)

func (a *API) objects(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := jobs.ObjectFilter{Source: q.Get("source"), Client: q.Get("client"), State: q.Get("state")}
	objs, err := a.opts.Catalog.Objects(r.Context(), f)
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	if objs == nil {
		objs = []jobs.Object{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"objects": objs})
}

// objectOf resolves the {id} of the path: an ID or a unique prefix, or
// "latest" with ?source=: the newest object of the source with a good
// copy (the one a restore of the source takes).
func (a *API) objectOf(w http.ResponseWriter, r *http.Request) (jobs.Object, bool) {
	id := r.PathValue("id")
	if id == "latest" {
		src := r.URL.Query().Get("source")
		if src == "" {
			a.fail(w, r, http.StatusBadRequest, "field source: /v1/objects/latest needs ?source=SOURCE")
			return jobs.Object{}, false
		}
		obj, err := jobs.FindObject(r.Context(), a.opts.Catalog, "", src)
		if errors.Is(err, jobs.ErrUsage) {
			a.fail(w, r, http.StatusNotFound, err.Error())
			return obj, false
		}
		if err != nil {
			a.failErr(w, r, fmt.Errorf("latest object of %s: %w", src, err))
			return obj, false
		}
		return obj, true
	}
	obj, err := a.opts.Catalog.Object(r.Context(), id)
	if errors.Is(err, jobs.ErrNotFound) {
		a.fail(w, r, http.StatusNotFound, fmt.Sprintf("no object %q in the catalog (GET /v1/objects lists them)", id))
		return obj, false
	}
	if err != nil {
		a.failErr(w, r, fmt.Errorf("object %q: %w", id, err))
		return obj, false
	}
	return obj, true
}

func (a *API) object(w http.ResponseWriter, r *http.Request) {
	if obj, ok := a.objectOf(w, r); ok {
		writeJSON(w, http.StatusOK, obj)
	}
}

func (a *API) copies(w http.ResponseWriter, r *http.Request) {
	obj, ok := a.objectOf(w, r)
	if !ok {
		return
	}
	cs, err := a.opts.Catalog.Copies(r.Context(), obj.ID)
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	if cs == nil {
		cs = []jobs.CopyInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": obj.ID, "copies": cs})
}

// FilePage is a page of GET /v1/objects/{id}/files.
type FilePage struct {
	Object string      `json:"object"`
	Files  []jobs.File `json:"files"`
	// Next, when set, is the after= of the next page.
	Next *int64 `json:"next,omitempty"`
}

// errPageFull stops the walk of a page.
var errPageFull = errors.New("page full")

// files lists the entries an object records, in stream order, that
// start with ?path=: ?limit= of them (default 1000) after the stream
// offset ?after= (the next of the page before). Only one page is in
// memory.
func (a *API) files(w http.ResponseWriter, r *http.Request) {
	obj, ok := a.objectOf(w, r)
	if !ok {
		return
	}
	limit, err := intParam(r, "limit", 1000, 1, 100000)
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	after, err := intParam(r, "after", -1, -1, 1<<62)
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	page := FilePage{Object: obj.ID, Files: []jobs.File{}}
	more := false
	err = a.opts.Catalog.ChainEntriesWithPrefix(r.Context(), []jobs.Object{obj}, 0, r.URL.Query().Get("path"), func(f jobs.File) error {
		if f.Offset <= after {
			return nil
		}
		if int64(len(page.Files)) == limit {
			more = true
			return errPageFull
		}
		page.Files = append(page.Files, f)
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		a.failErr(w, r, fmt.Errorf("files of object %s: %w", obj.ID, err))
		return
	}
	if more {
		next := page.Files[len(page.Files)-1].Offset
		page.Next = &next
	}
	writeJSON(w, http.StatusOK, page)
}

func (a *API) volumes(w http.ResponseWriter, r *http.Request) {
	pool := r.URL.Query().Get("pool")
	if pool != "" {
		if _, ok := a.opts.Config().Pool(pool); !ok {
			a.fail(w, r, http.StatusBadRequest, fmt.Sprintf("field pool: no pool %q in %s", pool, a.opts.Config().File))
			return
		}
	}
	vs, err := a.opts.Catalog.Volumes(r.Context(), pool)
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	if vs == nil {
		vs = []jobs.Volume{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"volumes": vs})
}

// PoolView is a pool of the configuration with its totals in the catalog.
type PoolView struct {
	Name           string           `json:"name"`
	Type           string           `json:"type"`
	Directory      string           `json:"directory,omitempty"`
	VolumeCapacity int64            `json:"volume_capacity,omitempty"`
	Totals         *jobs.PoolTotals `json:"totals,omitempty"`
}

func (a *API) pools(w http.ResponseWriter, r *http.Request) {
	cfg := a.opts.Config()
	totals, err := a.opts.Catalog.PoolsTotals(r.Context(), "")
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	byName := map[string]*jobs.PoolTotals{}
	for i := range totals {
		byName[totals[i].Pool] = &totals[i]
	}
	out := []PoolView{}
	for _, p := range cfg.Pools {
		out = append(out, PoolView{Name: p.Name, Type: p.Type, Directory: p.Directory, VolumeCapacity: p.VolumeCapacity, Totals: byName[p.Name]})
	}
	writeJSON(w, http.StatusOK, map[string]any{"pools": out})
}
