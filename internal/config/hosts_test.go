package config

import (
	"errors"
	"strings"
	"testing"
)

// fleet is a file with a server, two clients (one of them the server's own
// host) and two media hosts; hostsTail follows it.
const fleet = `server: {host: backup1, address: 127.0.0.1:7450, api: 127.0.0.1:7451}
clients:
  - {name: client-a, address: 127.0.0.2:7452}
  - {name: backup1}
media_hosts:
  - {name: mh1, address: 127.0.0.3:7453}
  - {name: mh2, address: "[::1]:7453"}
sources:
  - {name: home, client: client-a, paths: [/home]}
  - {name: etc, client: backup1, paths: [/etc]}
devices:
  - {name: tape0, host: mh1}
  - {name: tape1, host: mh2}
  - {name: tape2}
`

const hostsTail = `backup_group:
  - name: bma0
    device: tape0
    buffers: [{name: B1, source: home}, {name: B2, source: etc}]
mirror_groups:
  - media_agents:
      - name: bma1
        device: tape1
        buffers: [{name: B1, follows: bma0.B1}]
      - name: bma2
        device: tape2
        buffers: [{name: B2, follows: bma0.B2}]
`

func TestHostsParse(t *testing.T) {
	c, err := Parse("/etc/daisy/daisy.yaml", []byte(fleet+hostsTail))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Fleet() || *c.Server != (Server{Host: "backup1", Address: "127.0.0.1:7450", API: "127.0.0.1:7451"}) {
		t.Fatalf("server %+v", c.Server)
	}
	if cl, ok := c.Client("client-a"); !ok || cl.Address != "127.0.0.2:7452" {
		t.Fatalf("client-a %+v %v", cl, ok)
	}
	if cl, _ := c.Client("backup1"); cl.Address != "" {
		t.Fatalf("backup1 has address %q", cl.Address)
	}
	if len(c.MediaHosts) != 2 || c.MediaHosts[1] != (MediaHost{Name: "mh2", Address: "[::1]:7453"}) {
		t.Fatalf("media hosts %+v", c.MediaHosts)
	}
	for agent, want := range map[string]string{"bma0": "mh1", "bma1": "mh2", "bma2": ""} {
		a, _ := c.MediaAgent(agent)
		if got := c.HostOf(a); got != want {
			t.Fatalf("HostOf(%s) = %q, want %q", agent, got, want)
		}
	}
	g := Graph(c)
	for _, want := range []string{
		"hosts:\n",
		"  server backup1   127.0.0.1:7450 (API 127.0.0.1:7451)\n",
		"  client client-a  127.0.0.2:7452                       sources: home\n",
		"  client backup1   (the server's host)                  sources: etc\n",
		"  media host mh1   127.0.0.3:7453                       media agents: bma0 (tape0)\n",
		"  media host mh2   [::1]:7453                           media agents: bma1 (tape1)\n",
		"  local devices    (the server's host)                  media agents: bma2 (tape2)\n",
	} {
		if !strings.Contains(g, want) {
			t.Fatalf("graph lacks %q:\n%s", want, g)
		}
	}
	if dot := Dot(c); !strings.Contains(dot, "tape0 on mh1") {
		t.Fatalf("dot does not name the host of tape0:\n%s", dot)
	}
}

// The server's host defaults to the host of its address when that is a
// DNS name.
func TestServerHostFromAddress(t *testing.T) {
	c, err := Parse("d.yaml", []byte("server: {address: backup1.example.com:7450}\nsources: [{name: s, paths: [/s]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Host != "backup1.example.com" || c.Server.API != "" {
		t.Fatalf("server %+v", c.Server)
	}
}

// The all-in-one mode has no hosts and draws no hosts section.
func TestNoHostsAllInOne(t *testing.T) {
	c, err := Load(figure2)
	if err != nil {
		t.Fatal(err)
	}
	if c.Fleet() || c.MediaHosts != nil || c.Clients[0].Address != "" {
		t.Fatalf("figure 2 has hosts: %+v %+v %+v", c.Server, c.MediaHosts, c.Clients)
	}
	if strings.Contains(Graph(c), "hosts:") {
		t.Fatal("the graph of figure 2 lists hosts")
	}
}

func TestHostRules(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown media host of a device", strings.Replace(fleet, "{name: tape1, host: mh2}", "{name: tape1, host: mh3}", 1) + hostsTail,
			[]string{`13:25: device tape1 is on host mh3, which is not a media host; add it under media_hosts or use one of: mh1, mh2`}},
		{"a device host without media hosts", "server: {host: b, address: b:1}\nsources: [{name: s, paths: [/s]}]\ndevices: [{name: t0, host: mh1}]\n",
			[]string{`3:28: device t0 is on host mh1, but there are no media_hosts; add "media_hosts: [{name: mh1, address: HOST:PORT}]", or remove "host" for a device of the local host`}},
		{"duplicate media host", strings.Replace(fleet, "{name: mh2,", "{name: mh1,", 1) + hostsTail,
			[]string{`7:12: duplicate media host name mh1 (first at line 6); rename one of them`,
				`13:25: device tape1 is on host mh2, which is not a media host; add it under media_hosts or use one of: mh1`}},
		{"duplicate address", strings.Replace(fleet, "127.0.0.3:7453", "127.0.0.2:7452", 1) + hostsTail,
			[]string{`6:26: address 127.0.0.2:7452 of media host mh1 is already the address of client client-a (line 3); every daemon listens on an address of its own: change the port or the host`}},
		{"duplicate address, written otherwise", strings.Replace(fleet, "127.0.0.1:7451", "\"[::ffff:127.0.0.1]:7450\"", 1) + hostsTail,
			[]string{`1:55: address [::ffff:127.0.0.1]:7450 of the server's API is already the address of the server (line 1); every daemon listens on an address of its own: change the port or the host`}},
		{"unknown client", strings.Replace(fleet, "client: client-a", "client: client-b", 1) + hostsTail,
			[]string{`9:26: source home names client client-b, which does not exist; add it under clients or use one of: client-a, backup1`}},
		{"no port", strings.Replace(fleet, "127.0.0.2:7452", "127.0.0.2", 1) + hostsTail,
			[]string{`3:31: address of client client-a: "127.0.0.2" is not HOST:PORT (missing port in address); write e.g. backup1.example.com:7450, 192.0.2.10:7450 or [2001:db8::1]:7450`}},
		{"bad port", strings.Replace(fleet, "127.0.0.3:7453", "127.0.0.3:70000", 1) + hostsTail,
			[]string{`6:26: address of media host mh1: port "70000" of 127.0.0.3:70000 is not a number from 1 to 65535`}},
		{"bad host", strings.Replace(fleet, "127.0.0.3:7453", "mh_1:7453", 1) + hostsTail,
			[]string{`6:26: address of media host mh1: host "mh_1" of mh_1:7453 is neither an IP address nor a DNS name (letters, digits and "-" in labels separated by dots)`}},
		{"wildcard", strings.Replace(fleet, "127.0.0.1:7450", "0.0.0.0:7450", 1) + hostsTail,
			[]string{`1:34: address of server: 0.0.0.0:7450 is the wildcard address, which nobody can dial; name the host's own address (it also goes into its certificate)`}},
		{"no server", strings.Replace(fleet, "server: {host: backup1, address: 127.0.0.1:7450, api: 127.0.0.1:7451}\n", "", 1) + hostsTail,
			[]string{`2:31: client client-a is at 127.0.0.2:7452, but there is no server to reach it; add e.g. "server: {host: backup1, address: backup1.example.com:7450}", or remove the addresses and media_hosts for the all-in-one mode`}},
		{"media host without address", strings.Replace(fleet, "{name: mh1, address: 127.0.0.3:7453}", "{name: mh1}", 1) + hostsTail,
			[]string{`6:12: media host mh1 has no address; add "address: HOST:PORT" where its daisy media-agent listens, e.g. mh1.example.com:7453`}},
		{"server without address", "server: {host: b}\nsources: [{name: s, paths: [/s]}]\n",
			[]string{`1:1: server has no address; add "address: HOST:PORT" where daisy server listens for agents and media agents, e.g. backup1.example.com:7450`}},
		{"server with an IP and no host", "server: {address: 192.0.2.1:7450}\nsources: [{name: s, paths: [/s]}]\n",
			[]string{`1:1: server has no host and its address 192.0.2.1:7450 is an IP address; add "host: NAME", the server's name in its certificate`}},
		{"server not a mapping", "server: backup1:7450\nsources: [{name: s, paths: [/s]}]\n",
			[]string{`1:9: server must be a mapping, not a string; write e.g. server: {host: backup1, address: backup1.example.com:7450, api: 127.0.0.1:7451}`}},
		{"unknown key", strings.Replace(fleet, "{name: mh1, address:", "{name: mh1, adress:", 1) + hostsTail,
			[]string{`6:17: unknown key "adress" in media host mh1; did you mean "address"? valid keys are name, address`}},
		{"drive and changer on two hosts", strings.Replace(fleet, "  - {name: tape2}\n", "  - {name: robot, type: changer, path: /dev/sg1}\n  - {name: lto, type: tape, path: /dev/nst0, changer: robot, host: mh1}\n", 1) +
			"pools: [{name: default}, {name: t, type: tape}]\n" + strings.Replace(hostsTail, "device: tape2", "device: lto\n        pool: t", 1),
			[]string{`15:55: tape drive lto is on host mh1 but its changer robot is on the local host; a drive and its changer are attached to one host: give both the same "host"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("d.yaml", []byte(tc.yaml))
			var es *Errors
			if !errors.As(err, &es) {
				t.Fatalf("err = %v, want *Errors", err)
			}
			var got []string
			for _, e := range *es {
				got = append(got, strings.TrimPrefix(e.Error(), "d.yaml:"))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// The server's check counts only the buffers of its own host against its
// memory; those of a media host are that host's (HostBufferBytes, which
// daisy media-agent checks when it gets a job).
func TestMemoryCheckPerHost(t *testing.T) {
	defer func(f func() (int64, string)) { machineMemory = f }(machineMemory)
	machineMemory = func() (int64, string) { return 3 * GiB, "test" }
	tail := strings.Replace(hostsTail, "buffers: [{name: B1, source: home}, {name: B2, source: etc}]",
		"buffers: [{name: B1, source: home, size: 2GiB}, {name: B2, source: etc, size: 2GiB}]", 1)
	c, err := Parse("/etc/daisy/daisy.yaml", []byte(fleet+tail))
	if err != nil {
		t.Fatalf("4GiB of buffers on media host mh1 were counted against the server's 3GiB: %v", err)
	}
	if n, ids := c.HostBufferBytes("mh1"); n != 4*GiB || len(ids) != 2 || ids[0] != "bma0.B1 2GiB" {
		t.Errorf("mh1's buffers: %d %q", n, ids)
	}
	if n, ids := c.HostBufferBytes(""); n != c.Defaults.BufferSize || len(ids) != 1 {
		t.Errorf("the local host's buffers: %d %q", n, ids)
	}
	// The same buffers on the local host are refused.
	local := strings.Replace(fleet, "  - {name: tape0, host: mh1}", "  - {name: tape0}", 1)
	if _, err := Parse("/etc/daisy/daisy.yaml", []byte(local+tail)); err == nil || !strings.Contains(err.Error(), "more than this machine's memory") {
		t.Errorf("4GiB of local buffers against 3GiB: %v", err)
	}
}
