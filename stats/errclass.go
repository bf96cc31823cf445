package stats

// ErrorClass is why a request or iteration failed: the `error` label of
// canary_requests_total and the keys of a report's "errors". The set is fixed
// (docs/scenario.md, "Error classes") so that labels stay bounded.
type ErrorClass uint8

// The error classes, in the order reports list them.
const (
	ClassNone              ErrorClass = iota // no error
	ClassTimeout                             // the request (or the whole step) ran past its timeout
	ClassConnectionRefused                   // nothing listening
	ClassConnectionReset                     // the peer reset the connection
	ClassDNS                                 // the name did not resolve
	ClassTLS                                 // handshake or certificate problem
	ClassEOF                                 // the connection closed before a whole response arrived
	ClassBodyTooLarge                        // the body exceeded max_body
	ClassHTTPStatus                          // an unexpected status code
	ClassAssertion                           // another expectation failed
	ClassCapture                             // a capture found nothing
	ClassDropped                             // the iteration was more than max_lag late (open model)
	ClassHostNotAllowed                      // refused before sending: the host is not in allowed_hosts
	ClassOther                               // anything else
	NumErrorClasses                          // number of classes; not a class
)

var classNames = [NumErrorClasses]string{
	ClassNone:              "none",
	ClassTimeout:           "timeout",
	ClassConnectionRefused: "connection_refused",
	ClassConnectionReset:   "connection_reset",
	ClassDNS:               "dns",
	ClassTLS:               "tls",
	ClassEOF:               "eof",
	ClassBodyTooLarge:      "body_too_large",
	ClassHTTPStatus:        "http_status",
	ClassAssertion:         "assertion",
	ClassCapture:           "capture",
	ClassDropped:           "dropped",
	ClassHostNotAllowed:    "host_not_allowed",
	ClassOther:             "other",
}

// String returns the class's label value ("connection_refused").
func (c ErrorClass) String() string {
	if c < NumErrorClasses {
		return classNames[c]
	}
	return "other"
}

// ParseErrorClass returns the class named s.
func ParseErrorClass(s string) (ErrorClass, bool) {
	for i, n := range classNames {
		if n == s {
			return ErrorClass(i), true
		}
	}
	return ClassOther, false
}

// ErrorClasses returns every class, ClassNone first.
func ErrorClasses() []ErrorClass {
	out := make([]ErrorClass, NumErrorClasses)
	for i := range out {
		out[i] = ErrorClass(i)
	}
	return out
}

// Assertion is the kind of expectation that failed: the `assertion` label of
// canary_assertion_failures_total. A fixed set, like ErrorClass.
type Assertion uint8

// The assertion kinds of a step's `expect` (docs/scenario.md).
const (
	AssertNone         Assertion = iota // nothing failed
	AssertStatus                        // expect.status
	AssertMaxLatency                    // expect.max_latency
	AssertHeaders                       // expect.headers
	AssertBodyContains                  // expect.body_contains
	AssertBodyMatches                   // expect.body_matches
	AssertJSON                          // expect.json
	AssertExpr                          // expect.expr
	NumAssertions                       // number of kinds; not a kind
)

var assertionNames = [NumAssertions]string{
	AssertNone:         "none",
	AssertStatus:       "status",
	AssertMaxLatency:   "max_latency",
	AssertHeaders:      "headers",
	AssertBodyContains: "body_contains",
	AssertBodyMatches:  "body_matches",
	AssertJSON:         "json",
	AssertExpr:         "expr",
}

// String returns the kind's label value ("max_latency").
func (a Assertion) String() string {
	if a < NumAssertions {
		return assertionNames[a]
	}
	return "none"
}
