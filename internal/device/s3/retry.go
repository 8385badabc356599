package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// retry runs f until it succeeds, at most Retries+1 times, waiting
// RetryWait, then twice as long each time (up to maxRetryWait), between
// attempts. Each attempt gets Timeout. An error the server gives for a
// request that cannot succeed (access denied, no such bucket) is not
// retried, nor is a cancelled ctx. The error names what was done and how
// many attempts were made; credentials never appear in it.
func (l *Library) retry(ctx context.Context, what string, f func(context.Context) error) error {
	wait := l.o.RetryWait
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, l.o.Timeout)
		err := f(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !retryable(err) || attempt > l.o.Retries {
			return l.failure(what, err, attempt)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return l.failure(what, err, attempt)
		case <-t.C:
		}
		wait = min(2*wait, maxRetryWait)
	}
}

// failure makes the error of a request that failed for good.
func (l *Library) failure(what string, err error, attempts int) error {
	msg := err.Error()
	if r := minio.ToErrorResponse(err); r.Code != "" {
		msg = fmt.Sprintf("%s (%s, HTTP %d)", r.Message, r.Code, r.StatusCode)
		switch r.Code {
		case "NoSuchBucket":
			msg += fmt.Sprintf(": bucket %q does not exist on the server", l.o.Bucket)
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied":
			msg += ": check the credentials (environment or credentials_file)"
		}
	}
	for _, s := range l.secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "***")
		}
	}
	tries := ""
	if attempts > 1 {
		tries = fmt.Sprintf(" (%d attempts)", attempts)
	}
	return &Error{Op: what, Msg: msg + tries, err: err}
}

// Error is a request that failed for good.
type Error struct {
	Op, Msg string
	err     error
}

func (e *Error) Error() string { return "s3: " + e.Op + ": " + e.Msg }

// Unwrap gives the client's error (context errors, network errors).
func (e *Error) Unwrap() error { return e.err }

// retryable reports whether a request that failed with err may succeed
// when tried again: a network error, a timeout, a server error or
// throttling; not a refusal.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	r := minio.ToErrorResponse(err)
	if r.Code == "" && r.StatusCode == 0 {
		return true // not an answer of the server: the network, a timeout
	}
	switch r.Code {
	case "RequestTimeout", "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeTooSkewed", "XMinioServerNotInitialized":
		return true
	}
	return r.StatusCode >= 500 || r.StatusCode == http.StatusTooManyRequests || r.StatusCode == http.StatusRequestTimeout
}
