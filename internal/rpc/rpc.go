// Package rpc is the transport of a daisy fleet: gRPC over mutually
// authenticated TLS 1.3 (internal/pki), with the settings every daemon
// shares, the checks of who calls, record batches, and the conversions
// between the messages of proto/daisy/v1 (generated in daisypb) and
// daisy's own types.
//
// Settings that matter for a backup system, and why they are not gRPC's
// defaults:
//   - Flow-control windows are fixed (StreamWindow per stream, ConnWindow
//     per connection): gRPC's default grows them with the bandwidth-delay
//     product up to 16 MiB per stream, memory that no buffer of the
//     configuration would account for. A receiver that does not read
//     (its buffer is full) thus stops its sender within StreamWindow bytes,
//     and the sender's buffer fills: a slow drive slows its whole chain.
//   - Keepalive pings every KeepaliveTime, a peer that does not answer
//     within KeepaliveTimeout is gone: a vanished agent or media host
//     fails its part of a job within seconds, not at the next TCP timeout.
//   - Messages up to MaxMessage bytes (a RecordBatch of BatchBytes of
//     records, with room for one full-size record beyond it).
//   - Reads and writes of IOBuffer bytes (gRPC's default is 32 KiB), and
//     the TLS records of each write gathered into one write(2)
//     (coalesce.go): a fifth less CPU per byte pushed over loopback
//     (BenchmarkPushOverTLS), for 768 KiB of buffers per connection.
//   - gRPC's protobuf codec is replaced by one that passes record batches
//     without protobuf-go's copies (codec.go: Batch to send, PushIn to
//     receive); every other message is gRPC's codec's.
package rpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"daisy/internal/pki"
)

const (
	// StreamWindow and ConnWindow are the fixed HTTP/2 flow-control
	// windows (bytes in flight per stream and per connection).
	StreamWindow = 1 << 20
	ConnWindow   = 4 << 20
	// BatchBytes is the size a RecordBatch is filled to before it is sent.
	BatchBytes = 1 << 20
	// IOBuffer is the size of gRPC's read and write buffers of a
	// connection, and of the TLS records gathered into one write(2)
	// (coalesce.go): three of them per connection.
	IOBuffer = 256 << 10
	// MaxMessage is the largest message a daemon accepts.
	MaxMessage = 8 << 20
	// KeepaliveTime is how often an idle connection is pinged;
	// KeepaliveTimeout how long a ping waits for its answer.
	KeepaliveTime    = 2 * time.Second
	KeepaliveTimeout = 3 * time.Second
)

// NewServer returns a gRPC server that accepts TLS connections of tc
// (pki.ServerConfig) with daisy's transport settings; opts are added.
func NewServer(tc *tls.Config, opts ...grpc.ServerOption) *grpc.Server {
	base := []grpc.ServerOption{
		grpc.Creds(coalescing{credentials.NewTLS(tc)}),
		grpc.InitialWindowSize(StreamWindow),
		grpc.InitialConnWindowSize(ConnWindow),
		grpc.MaxRecvMsgSize(MaxMessage),
		grpc.MaxSendMsgSize(MaxMessage),
		grpc.ReadBufferSize(256 << 10), grpc.WriteBufferSize(256 << 10),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: KeepaliveTime, Timeout: KeepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: KeepaliveTime / 2, PermitWithoutStream: true}),
	}
	return grpc.NewServer(append(base, opts...)...)
}

// Dial returns a connection to address (HOST:PORT) with TLS config tc
// (pki.ClientConfig, which checks that the peer is who is expected) and
// daisy's transport settings. It does not wait for the connection: the
// first call does, and fails when the peer cannot be reached.
func Dial(address string, tc *tls.Config, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	base := []grpc.DialOption{
		grpc.WithTransportCredentials(coalescing{credentials.NewTLS(tc)}),
		grpc.WithInitialWindowSize(StreamWindow),
		grpc.WithInitialConnWindowSize(ConnWindow),
		grpc.WithReadBufferSize(256 << 10), grpc.WithWriteBufferSize(256 << 10),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessage), grpc.MaxCallSendMsgSize(MaxMessage)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: KeepaliveTime, Timeout: KeepaliveTimeout, PermitWithoutStream: true}),
	}
	cc, err := grpc.NewClient("passthrough:///"+address, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("rpc: dial %s: %w", address, err)
	}
	return cc, nil
}

// DialPeer dials want at address with the credentials c.
func DialPeer(c *pki.Credentials, want pki.Peer, address string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	tc, err := pki.ClientConfig(c, want, address)
	if err != nil {
		return nil, err
	}
	return Dial(address, tc, opts...)
}

// Listen listens on address (HOST:PORT) for TCP.
func Listen(address string) (net.Listener, error) {
	l, err := net.Listen("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("rpc: listen on %s: %w", address, err)
	}
	return l, nil
}

// Peer returns the verified peer of a call (its certificate's daisy://
// URI), or an Unauthenticated error.
func Peer(ctx context.Context) (pki.Peer, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return pki.Peer{}, status.Error(codes.Unauthenticated, "no peer")
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return pki.Peer{}, status.Error(codes.Unauthenticated, "not a TLS connection")
	}
	pe, err := pki.PeerOf(ti.State)
	if err != nil {
		return pki.Peer{}, status.Error(codes.Unauthenticated, err.Error())
	}
	return pe, nil
}

// Require returns the peer of a call when it has one of roles; else a
// PermissionDenied error naming who may.
func Require(ctx context.Context, roles ...pki.Role) (pki.Peer, error) {
	p, err := Peer(ctx)
	if err != nil {
		return p, err
	}
	if err := pki.RequireRole(p, roles...); err != nil {
		return p, status.Error(codes.PermissionDenied, err.Error())
	}
	return p, nil
}

// Message returns the message of an error that came over gRPC without the
// "rpc error: code = ... desc =" wrapping; other errors' Error().
func Message(err error) string {
	if s, ok := status.FromError(err); ok {
		return s.Message()
	}
	return err.Error()
}
