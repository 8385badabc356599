package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Server is where daisy server runs ("server:" of daisy.yaml).
type Server struct {
	// Host is the server's name: the name of its certificate ("host:";
	// default the host part of Address when that is a DNS name).
	Host string
	// Address is where it listens for agents and media agents
	// ("host:port"), and the address they dial.
	Address string
	// API is where its HTTP API listens ("api:", "host:port"); "" for none.
	API string
}

// MediaHost is a host that runs daisy media-agent for the devices that
// name it ("media_hosts:").
type MediaHost struct {
	Name    string
	Address string // "host:port" where its media agent listens
}

// Fleet reports whether the file declares a server: jobs then run in
// daisy server, with agents and media agents at the addresses of their
// hosts. Without one (the all-in-one mode) every command runs its job in
// its own process.
func (c *Config) Fleet() bool { return c.Server != nil }

// Client returns the client with this name.
func (c *Config) Client(name string) (Client, bool) {
	for _, cl := range c.Clients {
		if cl.Name == name {
			return cl, true
		}
	}
	return Client{}, false
}

// MediaHost returns the media host with this name.
func (c *Config) MediaHost(name string) (MediaHost, bool) {
	for _, h := range c.MediaHosts {
		if h.Name == name {
			return h, true
		}
	}
	return MediaHost{}, false
}

// HostOf is the media host a media agent runs on: the host of its
// device; "" for the local host.
func (c *Config) HostOf(a MediaAgent) string {
	dv, _ := c.Device(a.Device)
	return dv.Host
}

// What decode read of the hosts, with positions.
type hostsMeta struct {
	serverAddr, serverAPI pos
	clientAddr            []pos // per client, of its address (zero when none)
	mediaHosts            []hostMeta
}

type hostMeta struct{ name, address pos }

// kindMediaHost names media hosts in messages and meta.incomplete.
const kindMediaHost = "media host"

func (d *decoder) decodeServer(c *Config, m *meta, top *mapping) {
	f := top.get("server")
	if f == nil {
		return
	}
	example := "server: {host: backup1, address: backup1.example.com:7450, api: 127.0.0.1:7451}"
	if f.value == nil {
		d.errorf(f.key, "server is empty; write e.g. %s, or remove the key for the all-in-one mode", example)
		return
	}
	sm := d.mapping(f.value)
	if sm == nil {
		d.errorf(f.vpos, "server must be a mapping, not %s; write e.g. %s", kindOf(f.value), example)
		return
	}
	sm.label = "server"
	sm.only("host", "address", "api")
	s := &Server{}
	s.Address, m.hosts.serverAddr = d.hostAddress(sm, "address")
	if sm.missing("address") && !sm.misspelled("address") {
		d.errorf(sm.keyPos("address", f.key), "server has no address; add \"address: HOST:PORT\" where daisy server listens for agents and media agents, e.g. backup1.example.com:7450")
	}
	s.API, m.hosts.serverAPI = d.hostAddress(sm, "api")
	name, at, ok := sm.str("host")
	switch {
	case ok && !validName(name, nameWithDots):
		d.errorf(at, "invalid server host name %q; use letters, digits, \"_\", \"-\" and \".\", starting with a letter or digit", name)
	case ok:
		s.Host = name
	case sm.missing("host") && s.Address != "":
		h, _, _ := net.SplitHostPort(s.Address)
		if net.ParseIP(h) == nil {
			s.Host = h
			break
		}
		if !sm.misspelled("host") {
			d.errorf(sm.keyPos("host", f.key), "server has no host and its address %s is an IP address; add \"host: NAME\", the server's name in its certificate", s.Address)
		}
	}
	c.Server = s
}

func (d *decoder) decodeMediaHosts(c *Config, m *meta, top *mapping) {
	items, at, st := top.list("media_hosts", "media_hosts: [{name: mh1, address: mh1.example.com:7453}]")
	if st == listBad {
		m.incomplete[kindMediaHost] = true
		return
	}
	for i, it := range items {
		im := d.item(m, it, at[i], "media_hosts", kindMediaHost, i, "- {name: mh1, address: mh1.example.com:7453}")
		if im == nil {
			continue
		}
		im.only("name", "address")
		var h MediaHost
		var hm hostMeta
		h.Name, hm.name = im.name(m, kindMediaHost, nameWithDots)
		h.Address, hm.address = d.hostAddress(im, "address")
		if im.missing("address") && !im.misspelled("address") {
			d.errorf(im.keyPos("address", hm.name), "%s has no address; add \"address: HOST:PORT\" where its daisy media-agent listens, e.g. mh1.example.com:7453", im.label)
		}
		c.MediaHosts = append(c.MediaHosts, h)
		m.hosts.mediaHosts = append(m.hosts.mediaHosts, hm)
	}
}

// hostAddress reads key as "host:port" (reported when it is not one). It
// returns the address as written, or "" with the position when it is bad.
func (d *decoder) hostAddress(im *mapping, key string) (string, pos) {
	s, at, ok := im.str(key)
	if !ok {
		return "", at
	}
	if err := CheckAddress(s); err != nil {
		d.errorf(at, "%s: %v", im.of(key), err)
		return "", at
	}
	return s, at
}

// CheckAddress checks that s is "host:port" that a peer can dial: the host
// an IP address (not a wildcard such as 0.0.0.0) or a DNS name, the port a
// number from 1 to 65535.
func CheckAddress(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT (%v); write e.g. backup1.example.com:7450, 192.0.2.10:7450 or [2001:db8::1]:7450", s, strings.TrimPrefix(err.Error(), "address "+s+": "))
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q of %s is not a number from 1 to 65535", port, s)
	}
	if host == "" {
		return fmt.Errorf("%q has no host; name the host the others dial, e.g. backup1.example.com%s", s, s)
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip.IsUnspecified() {
			return fmt.Errorf("%s is the wildcard address, which nobody can dial; name the host's own address (it also goes into its certificate)", s)
		}
		return nil
	}
	if !validDNSName(host) {
		return fmt.Errorf("host %q of %s is neither an IP address nor a DNS name (letters, digits and \"-\" in labels separated by dots)", host, s)
	}
	return nil
}

// validDNSName reports whether s is a host name: labels of letters, digits
// and hyphens (not first or last), each at most 63 bytes, at most 253 in
// all.
func validDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// canonAddress is an address for comparisons: the host in lower case, an
// IP in its canonical form.
func canonAddress(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return s
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	return net.JoinHostPort(strings.ToLower(strings.TrimSuffix(host, ".")), port)
}

// checkHosts checks the hosts: unique media host names, each address used
// once, a server when clients or devices are elsewhere, the host of every
// device declared, a tape drive on the host of its changer.
func (d *decoder) checkHosts(c *Config, m *meta) {
	hm := &m.hosts
	names := make([]string, 0, len(c.MediaHosts))
	seen := map[string]pos{}
	for i, h := range c.MediaHosts {
		at := hm.mediaHosts[i].name
		if h.Name == "" || !at.valid() {
			continue
		}
		if prev, dup := seen[h.Name]; dup {
			d.errorf(at, "duplicate media host name %s (first at line %d); rename one of them", show(h.Name), prev.line)
			continue
		}
		seen[h.Name] = at
		names = append(names, h.Name)
	}

	// Every address once: two daemons cannot listen on one address.
	type user struct {
		what string
		at   pos
	}
	byAddr := map[string]user{}
	use := func(addr, what string, at pos) {
		if addr == "" {
			return
		}
		k := canonAddress(addr)
		if prev, dup := byAddr[k]; dup {
			d.errorf(at, "address %s of %s is already the address of %s (line %d); every daemon listens on an address of its own: change the port or the host", addr, what, prev.what, prev.at.line)
			return
		}
		byAddr[k] = user{what, at}
	}
	if s := c.Server; s != nil {
		use(s.Address, "the server", hm.serverAddr)
		use(s.API, "the server's API", hm.serverAPI)
	}
	var remote []string
	for i, cl := range c.Clients {
		use(cl.Address, "client "+show(cl.Name), hm.clientAddr[i])
		if cl.Address != "" && remote == nil {
			remote = []string{"client " + show(cl.Name), cl.Address}
		}
	}
	for i, h := range c.MediaHosts {
		use(h.Address, "media host "+show(h.Name), hm.mediaHosts[i].address)
	}
	if c.Server == nil {
		var at pos
		for i, cl := range c.Clients {
			if cl.Address != "" {
				at = hm.clientAddr[i]
				break
			}
		}
		if !at.valid() && len(hm.mediaHosts) > 0 {
			at, remote = hm.mediaHosts[0].name, []string{"media host " + show(c.MediaHosts[0].Name), c.MediaHosts[0].Address}
		}
		if at.valid() && remote != nil {
			d.errorf(at, "%s is at %s, but there is no server to reach it; add e.g. \"server: {host: backup1, address: backup1.example.com:7450}\", or remove the addresses and media_hosts for the all-in-one mode", remote[0], remote[1])
		}
	}

	for i, dv := range c.Devices {
		if dv.Host == "" {
			continue
		}
		at := m.devices[i].host
		if _, ok := c.MediaHost(dv.Host); !ok && !m.incomplete[kindMediaHost] {
			if len(c.MediaHosts) == 0 {
				d.errorf(at, "device %s is on host %s, but there are no media_hosts; add \"media_hosts: [{name: %s, address: HOST:PORT}]\", or remove \"host\" for a device of the local host", show(dv.Name), show(dv.Host), show(dv.Host))
			} else {
				d.errorf(at, "device %s is on host %s, which is not a media host; add it under media_hosts or use one of: %s", show(dv.Name), show(dv.Host), listNames(names))
			}
		}
	}
	for i, dv := range c.Devices {
		if dv.Tape == nil || dv.Tape.Changer == "" {
			continue
		}
		ch, ok := c.Device(dv.Tape.Changer)
		if !ok || ch.Host == dv.Host {
			continue
		}
		at := m.devices[i].changer
		if !at.valid() {
			at = m.devices[i].name
		}
		d.errorf(at, "tape drive %s is on %s but its changer %s is on %s; a drive and its changer are attached to one host: give both the same \"host\"", show(dv.Name), hostLabel(dv.Host), show(ch.Name), hostLabel(ch.Host))
	}
}

// hostLabel names a device's host in messages.
func hostLabel(h string) string {
	if h == "" {
		return "the local host"
	}
	return "host " + show(h)
}

// graphHosts is the part of Graph that lists the hosts, with the sources of
// each client and the media agents of each media host (and of the server's
// own host); "" in the all-in-one mode.
func graphHosts(c *Config) string {
	if c.Server == nil && len(c.MediaHosts) == 0 {
		return ""
	}
	type row struct{ what, addr, holds string }
	var rows []row
	if s := c.Server; s != nil {
		addr := s.Address
		if s.API != "" {
			addr += " (API " + s.API + ")"
		}
		rows = append(rows, row{"server " + s.Host, addr, ""})
	}
	for _, cl := range c.Clients {
		var srcs []string
		for _, s := range c.Sources {
			if s.Client == cl.Name {
				srcs = append(srcs, s.Name)
			}
		}
		addr := cl.Address
		if addr == "" {
			addr = "(the server's host)"
		}
		rows = append(rows, row{"client " + cl.Name, addr, "sources: " + listOrNone(srcs)})
	}
	agents := c.MediaAgents()
	for i := range c.CopyJobs {
		agents = append(agents, c.CopyJobs[i].MediaAgents()...)
	}
	onHost := func(h string) string {
		var out []string
		for _, a := range agents {
			if c.HostOf(a) == h {
				out = append(out, a.Name+" ("+a.Device+")")
			}
		}
		return "media agents: " + listOrNone(out)
	}
	for _, h := range c.MediaHosts {
		rows = append(rows, row{"media host " + h.Name, h.Address, onHost(h.Name)})
	}
	if local := onHost(""); local != "media agents: (none)" {
		rows = append(rows, row{"local devices", "(the server's host)", local})
	}
	w1, w2 := 0, 0
	for _, r := range rows {
		w1, w2 = max(w1, width(r.what)), max(w2, width(r.addr))
	}
	var sb strings.Builder
	sb.WriteString("\nhosts:\n")
	for _, r := range rows {
		sb.WriteString(strings.TrimRight("  "+pad(r.what, w1)+"  "+pad(r.addr, w2)+"  "+r.holds, " ") + "\n")
	}
	return sb.String()
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}
