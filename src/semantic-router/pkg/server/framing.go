package server

// Request framing. A request that carries both Content-Length and
// Transfer-Encoding, or Transfer-Encoding in HTTP/1.0, has an ambiguous
// length (RFC 9112 6.1 and 6.3): a proxy in front that reads the other
// length than the router sees another request boundary (request
// smuggling). The router answers such a request 400 and closes its
// connection.
//
// net/http accepts these requests (it reads a chunked body and drops
// Content-Length; in HTTP/1.0 it drops Transfer-Encoding) and removes both
// headers before a handler runs, so the check is made on the connection's
// bytes: Serve wraps each connection in a framingConn, which follows the
// requests on it as net/http does (request heads, Content-Length and chunked
// bodies) and records each request head; the handler takes the record of its
// request (framingError). A request the records cannot account for is
// refused too: the router does not serve a request it cannot delimit.

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
)

// Limits of the scanner (past them net/http has refused the request
// already): a line (request line, header, chunk size), and the heads read
// ahead of their handler.
const (
	maxFramingLine  = 1 << 20
	maxPendingHeads = 1024
)

// Answers (400) to requests whose framing is refused.
const (
	problemBoth     = "the request has both Content-Length and Transfer-Encoding: its length is ambiguous (RFC 9112 section 6.1)"
	problemHTTP10TE = "an HTTP/1.0 request with Transfer-Encoding has an ambiguous length (RFC 9112 section 6.1)"
	problemNoRecord = "cannot tell where this request starts on its connection"
)

type framingCtxKey struct{}

// framingListener wraps the connections it accepts in framingConns.
type framingListener struct{ net.Listener }

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &framingConn{Conn: c}, nil
}

// framingContext is the http.Server's ConnContext: it makes a framingConn
// reachable from the requests of its connection.
func framingContext(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*framingConn); ok {
		return context.WithValue(ctx, framingCtxKey{}, fc)
	}
	return ctx
}

// framingConn is a connection whose read bytes go through a framingScanner.
type framingConn struct {
	net.Conn
	mu   sync.Mutex
	scan framingScanner
}

func (c *framingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.scan.feed(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

// CloseWrite lets net/http half-close the connection after its last answer,
// so that the client reads the answer before the connection is reset.
func (c *framingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// take returns the framing problem ("" for none) of the request
// method/target, the next head recorded on the connection. net/http answers
// "OPTIONS *" itself, without the handler: such heads are passed over.
func (c *framingConn) take(method, target string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.scan.heads) > 0 {
		h := c.scan.heads[0]
		c.scan.heads = c.scan.heads[1:]
		if h.method == "OPTIONS" && h.target == "*" && (method != "OPTIONS" || target != "*") {
			continue
		}
		if h.method != method || h.target != target {
			break
		}
		return h.problem
	}
	c.scan.state = scanDone // nothing after this request can be trusted
	c.scan.heads = nil
	return problemNoRecord
}

// framingError is the framing problem of r ("" for none). Requests not
// served by Serve (no framingConn) have none.
func framingError(r *http.Request) string {
	fc, ok := r.Context().Value(framingCtxKey{}).(*framingConn)
	if !ok {
		return ""
	}
	return fc.take(r.Method, r.RequestURI)
}

// A framingScanner follows the HTTP/1.x requests of a connection's bytes.
type framingScanner struct {
	state     scanState
	line      []byte // the current line (head, chunk size or trailer), without '\n'
	remaining uint64 // bytes left in a Content-Length body or a chunk

	// The head being read.
	method, target, proto string
	inHead                bool     // the request line is read
	headers               int      // header lines read
	cl, transferEncoding  []string // Content-Length and Transfer-Encoding values
	last                  *[]string
	heads                 []framingHead // heads not yet taken by their handler
}

type framingHead struct {
	method, target string
	problem        string
}

type scanState int

const (
	scanHead      scanState = iota // request line and headers
	scanBody                       // Content-Length body
	scanChunkSize                  // chunk-size line
	scanChunkData                  // chunk data
	scanChunkEnd                   // the CRLF after chunk data
	scanTrailer                    // trailer lines, up to a blank line
	scanDone                       // not following any more: net/http refuses the request or the connection ends
)

func (s *framingScanner) feed(p []byte) {
	for len(p) > 0 && s.state != scanDone {
		switch s.state {
		case scanBody, scanChunkData:
			n := uint64(len(p))
			if n > s.remaining {
				n = s.remaining
			}
			p = p[n:]
			s.remaining -= n
			if s.remaining == 0 {
				if s.state == scanBody {
					s.state = scanHead
				} else {
					s.state = scanChunkEnd
				}
			}
		case scanChunkEnd:
			s.line = append(s.line, p[0])
			p = p[1:]
			if len(s.line) == 2 {
				if string(s.line) != "\r\n" {
					s.state = scanDone // net/http: malformed chunked encoding
				} else {
					s.state = scanChunkSize
				}
				s.line = s.line[:0]
			}
		default:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				s.line = append(s.line, p...)
				p = nil
			} else {
				s.line = append(s.line, p[:i]...)
				p = p[i+1:]
			}
			if len(s.line) > maxFramingLine {
				s.state = scanDone
				break
			}
			if i >= 0 {
				line := s.line
				s.line = s.line[:0]
				s.endLine(line)
			}
		}
	}
}

// endLine reads a whole line (without its '\n').
func (s *framingScanner) endLine(line []byte) {
	switch s.state {
	case scanChunkSize:
		// net/http: CRLF, no other CR, then "SIZE[;extensions]".
		if i := bytes.IndexByte(line, '\r'); i != len(line)-1 {
			s.state = scanDone
			return
		}
		line = trimOWS(line[:len(line)-1], false)
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		if len(line) == 0 || len(line) > 16 {
			s.state = scanDone
			return
		}
		n, err := strconv.ParseUint(string(line), 16, 64) // hex digits only
		if err != nil {
			s.state = scanDone
			return
		}
		if n == 0 {
			s.state = scanTrailer
		} else {
			s.state, s.remaining = scanChunkData, n
		}
		return
	case scanTrailer:
		if len(bytes.TrimSuffix(line, []byte("\r"))) == 0 {
			s.state = scanHead
		}
		return
	}
	line = bytes.TrimSuffix(line, []byte("\r"))
	if !s.inHead {
		method, rest, ok1 := bytes.Cut(line, []byte(" "))
		target, proto, ok2 := bytes.Cut(rest, []byte(" "))
		if !ok1 || !ok2 {
			s.state = scanDone // net/http: malformed HTTP request
			return
		}
		s.method, s.target, s.proto = string(method), string(target), string(proto)
		s.inHead, s.headers, s.cl, s.transferEncoding, s.last = true, 0, nil, nil, nil
		return
	}
	if len(line) == 0 {
		s.endHead()
		return
	}
	if line[0] == ' ' || line[0] == '\t' { // obs-fold: continues the previous value
		if s.headers == 0 {
			s.state = scanDone // net/http: malformed MIME header initial line
			return
		}
		if s.last != nil {
			v := *s.last
			v[len(v)-1] += " " + string(trimOWS(line, true))
		}
		return
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok || !isToken(name) {
		s.state = scanDone // net/http: malformed MIME header line
		return
	}
	s.headers++
	s.last = nil
	switch {
	case bytes.EqualFold(name, []byte("Content-Length")):
		s.cl = append(s.cl, string(trimOWS(value, true)))
		s.last = &s.cl
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		s.transferEncoding = append(s.transferEncoding, string(trimOWS(value, true)))
		s.last = &s.transferEncoding
	}
}

// endHead records the head just read and follows its body.
func (s *framingScanner) endHead() {
	s.inHead = false
	major, minor, ok := http.ParseHTTPVersion(s.proto)
	if !ok || major != 1 || len(s.heads) >= maxPendingHeads {
		s.state = scanDone
		return
	}
	h := framingHead{method: s.method, target: s.target}
	switch {
	case len(s.transferEncoding) > 0 && len(s.cl) > 0:
		h.problem = problemBoth
	case len(s.transferEncoding) > 0 && minor == 0:
		h.problem = problemHTTP10TE
	}
	s.heads = append(s.heads, h)
	switch {
	case h.problem != "":
		s.state = scanDone // the connection closes after this request's answer
	case len(s.transferEncoding) > 0:
		// net/http serves only one Transfer-Encoding, chunked (501 otherwise).
		if len(s.transferEncoding) != 1 || !bytes.EqualFold(trimOWS([]byte(s.transferEncoding[0]), true), []byte("chunked")) {
			s.state = scanDone
			return
		}
		s.state = scanChunkSize
	case len(s.cl) > 0:
		for _, v := range s.cl[1:] {
			if v != s.cl[0] {
				s.state = scanDone // net/http: multiple Content-Length headers
				return
			}
		}
		n, err := strconv.ParseUint(s.cl[0], 10, 63) // digits only
		if err != nil {
			s.state = scanDone // net/http: bad Content-Length
			return
		}
		if n > 0 {
			s.state, s.remaining = scanBody, n
		} else {
			s.state = scanHead
		}
	default:
		s.state = scanHead
	}
}

// trimOWS trims spaces and tabs at the end of b, and at its start if both.
func trimOWS(b []byte, both bool) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	for both && len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// isToken reports whether b is a non-empty RFC 9110 token (a field name).
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0:
		default:
			return false
		}
	}
	return true
}
