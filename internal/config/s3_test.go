package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const s3Topology = `sources: [{name: home, paths: [/home]}]
devices:
  - {name: t0, type: vtape}
  - {name: s0, type: s3}
backup_group:
  - {name: bma0, device: t0, pool: default, buffers: [{name: B1, source: home}]}
mirror_groups:
  - media_agents:
      - {name: mma0, device: s0, pool: off, buffers: [{name: B1, follows: bma0.B1}]}
pools:
  - {name: default}
`

// An s3 pool: its keys, defaults and the endpoint with or without TLS.
func TestS3Pool(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "creds")
	os.WriteFile(creds, []byte("[default]\n"), 0o600)
	c, err := Parse(filepath.Join(dir, "daisy.yaml"), []byte(s3Topology+`  - name: off
    type: s3
    endpoint: s3.example.com:9000
    bucket: daisy-backups
    region: eu-west-1
    credentials_file: creds
    profile: daisy
    part_size: 16MiB
    volume_capacity: 1GiB
    retention: 30d
  - {name: lab, type: s3, endpoint: "http://127.0.0.1:7070", bucket: lab, prefix: /x/y/}
  - {name: plain, type: s3, endpoint: "10.0.0.1", tls: false, bucket: lab, prefix: ""}
`))
	if err != nil {
		t.Fatal(err)
	}
	off, _ := c.Pool("off")
	want := S3{Endpoint: "https://s3.example.com:9000", Bucket: "daisy-backups", Prefix: "off", Region: "eu-west-1",
		CredentialsFile: creds, Profile: "daisy", PartSize: 16 << 20}
	if off.Type != TypeS3 || off.S3 == nil || *off.S3 != want || off.VolumeCapacity != 1<<30 || off.FreeSpace != 0 || off.Retention == 0 {
		t.Fatalf("pool off: %+v, S3 %+v", off, off.S3)
	}
	lab, _ := c.Pool("lab")
	if lab.S3.Endpoint != "http://127.0.0.1:7070" || lab.S3.Prefix != "x/y" || lab.S3.PartSize != DefaultPartSize || lab.S3.CredentialsFile != "" {
		t.Fatalf("pool lab: %+v", lab.S3)
	}
	plain, _ := c.Pool("plain")
	if plain.S3.Endpoint != "http://10.0.0.1" || plain.S3.Prefix != "" {
		t.Fatalf("pool plain: %+v", plain.S3)
	}
	if lab.S3Location() != "s3://lab/x/y" || plain.S3Location() != "s3://lab" {
		t.Fatalf("locations %s %s", lab.S3Location(), plain.S3Location())
	}
	if c.DeviceMemory() != 16<<20 { // mma0 writes into off
		t.Fatalf("device memory %d, want the part size of off", c.DeviceMemory())
	}
	// check warns of the pools that take their credentials from an
	// environment that has none.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	var warned []string
	for _, w := range c.S3CredentialWarnings() {
		warned = append(warned, w.Error())
	}
	if len(warned) != 2 || !strings.Contains(warned[0], "daisy.yaml:22:6: pool lab: no credentials for s3://lab/x/y in this environment") ||
		!strings.Contains(warned[1], "pool plain: no credentials") {
		t.Fatalf("credential warnings: %q", warned)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	if w := c.S3CredentialWarnings(); len(w) != 0 {
		t.Fatalf("warnings with credentials in the environment: %v", w)
	}
	if d, _ := c.Pool("default"); d.S3 != nil {
		t.Fatal("a vtape pool has S3 settings")
	}
}

// Every mistake in an s3 pool is named with its line and column.
func TestS3PoolErrors(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "adir"), 0o755)
	for _, tc := range []struct{ pool, want string }{
		{`{name: off, type: s3, bucket: b12}`, `12:17: pool off of type s3 has no endpoint; add e.g. "endpoint: https://s3.example.com"`},
		{`{name: off, type: s3, endpoint: "https://h"}`, `12:17: pool off of type s3 has no bucket`},
		{`{name: off, type: s3, endpoint: "ftp://h", bucket: b12}`, `endpoint of pool off: scheme "ftp"`},
		{`{name: off, type: s3, endpoint: "https://h/b12", bucket: b12}`, `has a path; give the server only`},
		{`{name: off, type: s3, endpoint: "https://k:s@h", bucket: b12}`, `never in daisy.yaml`},
		{`{name: off, type: s3, endpoint: "https://h", tls: false, bucket: b12}`, `tls: false disagrees with the scheme`},
		{`{name: off, type: s3, endpoint: "h:port", bucket: b12}`, `endpoint of pool off`},
		{`{name: off, type: s3, endpoint: "https://h", bucket: Backups}`, `bucket "Backups" of pool off may hold only lowercase letters`},
		{`{name: off, type: s3, endpoint: "https://h", bucket: ab}`, `must be 3 to 63 characters long`},
		{`{name: off, type: s3, endpoint: "https://h", bucket: 192.168.1.1}`, `must not look like an IP address`},
		{`{name: off, type: s3, endpoint: "https://h", bucket: b12, prefix: "a//b"}`, `prefix "a//b" of pool off has an empty`},
		{`{name: off, type: s3, endpoint: "https://h", bucket: b12, prefix: "a/../b"}`, `".."`},
		{`{name: off, type: s3, endpoint: "https://h", bucket: b12, credentials_file: nosuch}`, `credentials_file ` + dir + `/nosuch of pool off cannot be read: no such file or directory`},
		{`{name: off, type: s3, endpoint: "https://h", bucket: b12, credentials_file: adir}`, `is not a regular file`},
		{`{name: off, type: s3, endpoint: "https://h", bucket: b12, credentials_file: " "}`, `pool off has an empty credentials_file; name an AWS credentials file`},
		{`{name: off, type: s3, endpoint: "https://h", bucket: b12, profile: p}`, `profile of pool off names a section of a credentials file`},
		{`{name: off, type: s3, endpoint: "https://h", bucket: b12, ca_file: nosuch}`, `ca_file`},
		{`{name: off, type: s3, endpoint: "https://h", bucket: b12, part_size: 1KiB}`, `part_size 1KiB of pool off is out of range`},
		{`{name: off, type: s3, endpoint: "https://h", bucket: b12, part_size: 128KiB}`, `part_size 128KiB of pool off is smaller than a block of device s0 (256KiB)`},
		{`{name: off, type: s3, endpoint: "https://h", bucket: b12, free_space: 1GiB}`, `unknown key "free_space" in pool off`},
		{`{name: off, type: s3, endpoint: "https://h", bucket: b12, directory: /srv}`, `unknown key "directory" in pool off`},
		{`{name: off, type: s4, endpoint: "https://h", bucket: b12}`, `unknown type "s4" of pool off; use type: vtape, tape, changer or s3`},
		{`{name: off, type: s3, endpoint: "https://h", bucket: b12}
  - {name: off2, type: s3, endpoint: "https://h", bucket: b12, prefix: off/inner}`, `pool off2 keeps its volumes at https://h/b12/off/inner, which overlaps pool off at https://h/b12/off`},
		{`{name: off, type: vtape}`, `media agent mma0 writes into pool off of type vtape through device s0 of type s3`},
	} {
		_, err := Parse(filepath.Join(dir, "daisy.yaml"), []byte(s3Topology+"  - "+tc.pool+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("pool %s:\n got %v\nwant %s", tc.pool, err, tc.want)
		}
	}
}
