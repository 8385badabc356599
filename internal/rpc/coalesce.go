package rpc

import (
	"context"
	"net"
	"sync"

	"google.golang.org/grpc/credentials"
)

// coalesceBytes is how much TLS output is gathered into one write(2).
const coalesceBytes = IOBuffer

// coalescing wraps gRPC's TLS credentials so that the records TLS makes
// of one write leave in one system call. crypto/tls writes every record
// (16 KiB of data at most, the protocol's limit) to the connection on its
// own, so a backup stream of gRPC's 32 KiB writes took two write(2)s per
// 32 KiB, and as many wake-ups of the reader on the other side; gathered,
// a write of gRPC's buffer is one write(2) and the reader's read(2)s take
// several records each.
//
// Only what TLS writes within a Write of the connection is gathered, and
// it is sent before that Write returns; the handshake and what TLS writes
// by itself (alerts, answers to a key update) go straight through.
type coalescing struct {
	credentials.TransportCredentials
}

func (c coalescing) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	g := &gatherConn{Conn: raw}
	conn, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, g)
	if err != nil {
		return nil, nil, err
	}
	return &flushConn{Conn: conn, g: g}, info, nil
}

func (c coalescing) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	g := &gatherConn{Conn: raw}
	conn, info, err := c.TransportCredentials.ServerHandshake(g)
	if err != nil {
		return nil, nil, err
	}
	return &flushConn{Conn: conn, g: g}, info, nil
}

func (c coalescing) Clone() credentials.TransportCredentials {
	return coalescing{c.TransportCredentials.Clone()}
}

// gatherConn is the TCP connection under TLS: while gathering, writes
// are appended to buf (sent when it would overflow, and by flush).
type gatherConn struct {
	net.Conn
	mu     sync.Mutex
	buf    []byte
	gather bool
	err    error
}

func (g *gatherConn) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return 0, g.err
	}
	if !g.gather {
		return g.Conn.Write(p)
	}
	if len(g.buf)+len(p) > coalesceBytes {
		if err := g.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(p) >= coalesceBytes {
		return g.Conn.Write(p)
	}
	if g.buf == nil {
		g.buf = make([]byte, 0, coalesceBytes)
	}
	g.buf = append(g.buf, p...)
	return len(p), nil
}

func (g *gatherConn) flushLocked() error {
	if len(g.buf) == 0 {
		return nil
	}
	_, err := g.Conn.Write(g.buf)
	g.buf = g.buf[:0]
	if err != nil {
		g.err = err
	}
	return err
}

// begin starts gathering; end stops and sends what was gathered.
func (g *gatherConn) begin() {
	g.mu.Lock()
	g.gather = true
	g.mu.Unlock()
}

func (g *gatherConn) end() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gather = false
	return g.flushLocked()
}

// flushConn is the TLS connection gRPC uses: each Write is gathered into
// as few write(2)s as its size allows.
type flushConn struct {
	net.Conn
	g  *gatherConn
	mu sync.Mutex // one Write at a time (gRPC has one writer per connection)
}

func (c *flushConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.g.begin()
	n, err := c.Conn.Write(p)
	if ferr := c.g.end(); err == nil && ferr != nil {
		err = ferr
	}
	return n, err
}
