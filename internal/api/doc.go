// Package api is the HTTP JSON API of daisy server (docs/API.md): jobs
// (start, list, follow their progress), the topology of the
// configuration, the catalog (objects, copies, files, volumes, pools),
// Prometheus metrics at /metrics and a health check.
//
// The API runs jobs through a Runner: Local runs them in this process with
// internal/jobs (a server whose clients and devices are all local);
// internal/server implements one for the fleet. The jobs of the server's
// schedules run through the same table of jobs as those of POST /v1/jobs
// (API.RunScheduled), so that GET /v1/jobs lists them, with the name of
// their schedule, and the job metrics count them. Every request is
// authenticated, by a bearer token of pki.Tokens or a TLS client
// certificate of role admin or server (see auth.go); Serve serves a handler
// over HTTPS with TLSConfig.
//
// The catalog is reached through internal/jobs' exported API, as the
// command line does.
package api
