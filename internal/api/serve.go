package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Timeouts of the API's server. WriteTimeout is left at zero so that
// GET /v1/jobs/{id}/follow can stream for the length of a job; a client
// that reads nothing is cut by the TCP stack and ctx's end.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	IdleTimeout       = 2 * time.Minute
	// ShutdownGrace is how long Serve waits for requests to end once ctx
	// is done.
	ShutdownGrace = 10 * time.Second
)

// Serve serves h over HTTPS on l with tlsConfig (TLSConfig: the server's
// certificate, client certificates verified when given) until ctx is
// done, then shuts down gracefully: no new connections, requests in
// flight get ShutdownGrace to end (streams of follow end at once). It
// returns nil after a shutdown ctx asked for.
func Serve(ctx context.Context, l net.Listener, h http.Handler, tlsConfig *tls.Config) error {
	if tlsConfig == nil {
		return errors.New("api: serve: no TLS configuration (the API is served over HTTPS only)")
	}
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         tlsConfig.Clone(),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(l, srv.TLSConfig)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve on %s: %w", l.Addr(), err)
	case <-ctx.Done():
	}
	cancel() // ends the streams (follow) so that Shutdown does not wait for them
	sctx, scancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer scancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("api: shutdown on %s: %w", l.Addr(), err)
	}
	return nil
}
