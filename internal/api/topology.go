package api

import (
	"net/http"

	"daisy/internal/config"
)

// Topology is the answer of GET /v1/topology: the hosts, media agents and
// chains of the configuration in force.
type Topology struct {
	Config      string           `json:"config"`
	Fleet       bool             `json:"fleet"` // the configuration declares a server
	Hosts       []HostState      `json:"hosts"`
	MediaAgents []MediaAgentView `json:"media_agents"`
	Chains      []ChainView      `json:"chains"`
}

// MediaAgentView is a media agent of the backup topology.
type MediaAgentView struct {
	Name    string       `json:"name"`
	Role    string       `json:"role"`
	Level   int          `json:"level"`
	Device  string       `json:"device"`
	Pool    string       `json:"pool"`
	Host    string       `json:"host"`
	Buffers []BufferView `json:"buffers"`
}

// BufferView is a buffer of a media agent.
type BufferView struct {
	ID      string `json:"id"` // MEDIA_AGENT.BUFFER
	Source  string `json:"source,omitempty"`
	Follows string `json:"follows,omitempty"`
	Size    int64  `json:"size_bytes"`
}

// ChainView is the chain of a source: one link per copy.
type ChainView struct {
	Source string     `json:"source"`
	Client string     `json:"client"`
	Links  []LinkView `json:"links"`
}

// LinkView is one copy of a chain.
type LinkView struct {
	Copy       int    `json:"copy"`
	MediaAgent string `json:"media_agent"`
	Buffer     string `json:"buffer"`
	Device     string `json:"device"`
	Pool       string `json:"pool"`
	Host       string `json:"host"`
}

func (a *API) topology(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.topologyOf(a.opts.Config()))
}

func (a *API) topologyOf(cfg *config.Config) Topology {
	t := Topology{Config: cfg.File, Fleet: cfg.Fleet(), Hosts: []HostState{}, MediaAgents: []MediaAgentView{}, Chains: []ChainView{}}
	state := map[string]HostState{}
	if a.opts.Fleet != nil {
		for _, h := range a.opts.Fleet.Hosts() {
			state[h.Role+"/"+h.Name] = h
		}
	}
	add := func(role, name, addr string) {
		h, ok := state[role+"/"+name]
		if !ok {
			h = HostState{Name: name, Role: role, Address: addr, Connected: role == "server" || (a.opts.Fleet == nil && addr == "")}
		}
		t.Hosts = append(t.Hosts, h)
	}
	add("server", localHost(cfg), serverAddr(cfg))
	for _, c := range cfg.Clients {
		if c.Address != "" {
			add("client", c.Name, c.Address)
		}
	}
	for _, m := range cfg.MediaHosts {
		add("media-host", m.Name, m.Address)
	}
	for _, ma := range cfg.MediaAgents() {
		v := MediaAgentView{Name: ma.Name, Role: ma.Role, Level: ma.Level, Device: ma.Device, Pool: ma.Pool, Host: deviceHost(cfg, ma.Device), Buffers: []BufferView{}}
		for _, b := range ma.Buffers {
			v.Buffers = append(v.Buffers, BufferView{ID: b.ID(ma.Name), Source: b.Source, Follows: b.Follows, Size: b.Size})
		}
		t.MediaAgents = append(t.MediaAgents, v)
	}
	for _, s := range cfg.Sources {
		c := ChainView{Source: s.Name, Client: s.Client, Links: []LinkView{}}
		for _, l := range cfg.Chain(s.Name) {
			c.Links = append(c.Links, LinkView{Copy: l.Copy, MediaAgent: l.Agent.Name, Buffer: l.Buffer.ID(l.Agent.Name), Device: l.Agent.Device, Pool: l.Agent.Pool, Host: deviceHost(cfg, l.Agent.Device)})
		}
		t.Chains = append(t.Chains, c)
	}
	return t
}

func serverAddr(cfg *config.Config) string {
	if cfg.Server != nil {
		return cfg.Server.Address
	}
	return ""
}
