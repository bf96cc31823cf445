package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/valyala/fasthttp"

	"github.com/canaryproj/canary/stats"
)

// Classify returns the error class of err (docs/scenario.md): the class of a *Error,
// otherwise what the cause says (a timeout, a refused or reset connection,
// a name that did not resolve, a TLS failure, a connection closed early, a
// body over the cap). Anything else is stats.ClassOther; nil is
// stats.ClassNone.
func Classify(err error) stats.ErrorClass {
	if err == nil {
		return stats.ClassNone
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Class
	}
	switch {
	case errors.Is(err, context.Canceled):
		// Cancelled by the caller (a run stopping), not by the target.
		return stats.ClassOther
	case errors.Is(err, errBodyTooLarge):
		return stats.ClassBodyTooLarge
	}
	// Before timeouts: a lookup that timed out is still a name that did not
	// resolve.
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return stats.ClassDNS
	}
	switch {
	case isTimeout(err):
		return stats.ClassTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return stats.ClassConnectionRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return stats.ClassConnectionReset
	case isTLS(err):
		return stats.ClassTLS
	case isEOF(err):
		return stats.ClassEOF
	}
	return stats.ClassOther
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, fasthttp.ErrTimeout) {
		return true
	}
	t, ok := errors.AsType[interface {
		error
		Timeout() bool
	}](err)
	return ok && t.Timeout()
}

func isTLS(err error) bool {
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return true
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return true
	}
	if _, ok := errors.AsType[tls.AlertError](err); ok {
		return true
	}
	// An alert from the peer ("remote error: tls: certificate required").
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "remote error" {
		return true
	}
	// crypto/tls returns most handshake failures as plain errors; they all
	// start with "tls: ". net/http says this when an https:// URL reaches a
	// plain HTTP server.
	msg := err.Error()
	return strings.Contains(msg, "tls: ") || strings.Contains(msg, "server gave HTTP response to HTTPS client")
}

func isEOF(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	// net/http's and its HTTP/2 transport's words for a connection that
	// went away before the whole response arrived.
	msg := err.Error()
	return strings.Contains(msg, "server closed idle connection") ||
		strings.Contains(msg, "client connection lost") ||
		strings.Contains(msg, "server sent GOAWAY and closed the connection")
}
