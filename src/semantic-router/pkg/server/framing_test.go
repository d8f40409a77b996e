package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawExchange writes raw on a new connection to addr and reads n answers,
// then reports whether the connection was closed after them.
func rawExchange(t *testing.T, addr, raw string, n int) ([]*http.Response, [][]byte, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	var resps []*http.Response
	var bodies [][]byte
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		resps, bodies = append(resps, resp), append(bodies, b)
	}
	_, err = br.ReadByte()
	return resps, bodies, err == io.EOF
}

const routeBody = `{"prompt": "How do I resolve a merge conflict in git?"}`

// chunk encodes s as one chunk and the last chunk.
func chunk(s string) string { return hex(len(s)) + "\r\n" + s + "\r\n0\r\n\r\n" }

func hex(n int) string { return strconv.FormatInt(int64(n), 16) }

func wantFramingRefused(t *testing.T, resp *http.Response, body []byte, closed bool) {
	t.Helper()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var e map[string]string
	if err := json.Unmarshal(body, &e); err != nil || len(e) != 1 || !strings.Contains(e["error"], "ambiguous") {
		t.Fatalf("body %q (%v)", body, err)
	}
	if !resp.Close || !closed {
		t.Fatalf("connection kept open (Connection: close %v, closed %v)", resp.Close, closed)
	}
}

// net/http serves a request with both Content-Length and Transfer-Encoding
// (it drops Content-Length); the router refuses it.
func TestAmbiguousLengthIsRefused(t *testing.T) {
	s, _ := newServer(t)
	addr := serveForTest(t, s.Handler())
	const head = "POST /v1/route HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\n"
	for name, raw := range map[string]string{
		"Content-Length, then Transfer-Encoding": head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(routeBody),
		"Transfer-Encoding, then Content-Length": head + "Transfer-Encoding: chunked\r\nContent-Length: 200\r\n\r\n" + chunk(routeBody),
		"the same length":                        head + "Content-Length: " + strconv.Itoa(len(routeBody)) + "\r\ntransfer-encoding: Chunked\r\n\r\n" + chunk(routeBody),
		"a folded Transfer-Encoding":             head + "Transfer-Encoding:\r\n chunked\r\ncontent-length: 3\r\n\r\n" + chunk(routeBody),
		"HTTP/1.0, both":                         strings.Replace(head, "HTTP/1.1", "HTTP/1.0", 1) + "Transfer-Encoding: chunked\r\nContent-Length: " + strconv.Itoa(len(routeBody)) + "\r\n\r\n" + routeBody,
		"HTTP/1.0, Transfer-Encoding only":       strings.Replace(head, "HTTP/1.1", "HTTP/1.0", 1) + "Transfer-Encoding: chunked\r\n\r\n" + chunk(routeBody),
		"after a request on the connection": head + "Content-Length: " + strconv.Itoa(len(routeBody)) + "\r\n\r\n" + routeBody +
			head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(routeBody),
	} {
		t.Run(name, func(t *testing.T) {
			n := 1
			if strings.HasPrefix(name, "after") {
				n = 2
			}
			resps, bodies, closed := rawExchange(t, addr, raw, n)
			if n == 2 {
				decodeResult(t, response{resps[0].StatusCode, resps[0].Header, bodies[0]})
			}
			wantFramingRefused(t, resps[n-1], bodies[n-1], closed)
		})
	}
	if v, _ := scrape(t, s.Handler()).Value("router_requests_total", map[string]string{"route": PathRoute, "status": "400"}); v != 7 {
		t.Fatalf("400s counted %v, want 7", v)
	}
}

// Requests sent at once on a connection are all followed: Content-Length
// and chunked bodies (one holding a request head in its text), chunk
// extensions and trailers, "OPTIONS *" (which net/http answers itself),
// and a request without a body. The ambiguous one after them is refused.
func TestPipelinedRequestsAreFollowed(t *testing.T) {
	s, _ := newServer(t)
	addr := serveForTest(t, s.Handler())
	inner := "x\r\n\r\nPOST /v1/route HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
	bodyWithHead, _ := json.Marshal(map[string]string{"prompt": "How do I fix a null pointer exception in Java? " + inner})
	const head = "POST /v1/route HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\n"
	raw := head + "Content-Length: " + strconv.Itoa(len(bodyWithHead)) + "\r\n\r\n" + string(bodyWithHead) +
		head + "Transfer-Encoding: chunked\r\n\r\n" +
		hex(10) + ";ext=1\r\n" + routeBody[:10] + "\r\n" + hex(len(routeBody)-10) + "\r\n" + routeBody[10:] + "\r\n0\r\nX-Trailer: 1\r\n\r\n" +
		"OPTIONS * HTTP/1.1\r\nHost: router\r\n\r\n" +
		"GET /healthz HTTP/1.1\r\nHost: router\r\n\r\n" +
		head + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + "0\r\n\r\n" +
		"GET /healthz HTTP/1.1\r\nHost: router\r\n\r\n"
	resps, bodies, closed := rawExchange(t, addr, raw, 5)
	for i, want := range []string{"coding", "coding"} {
		if res := decodeResult(t, response{resps[i].StatusCode, resps[i].Header, bodies[i]}); res.Category != want {
			t.Fatalf("request %d routed to %+v", i, res)
		}
	}
	if resps[2].StatusCode != 200 || resps[3].StatusCode != 200 || string(bodies[3]) != "{\"status\":\"ok\"}\n" {
		t.Fatalf("OPTIONS *: %d; /healthz: %d %s", resps[2].StatusCode, resps[3].StatusCode, bodies[3])
	}
	wantFramingRefused(t, resps[4], bodies[4], closed)
}

// The scanner finds the same heads however the bytes are split.
func TestFramingScannerSplits(t *testing.T) {
	raw := "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
		"POST /b HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n5;x=y  \r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n" +
		"GET /c?q=1 HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n" +
		"POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
		"GET /after HTTP/1.1\r\n\r\n"
	want := []framingHead{{"POST", "/a", ""}, {"POST", "/b", ""}, {"GET", "/c?q=1", ""}, {"POST", "/d", problemBoth}}
	for _, size := range []int{1, 2, 3, 7, 64, len(raw)} {
		var s framingScanner
		for b := []byte(raw); len(b) > 0; {
			n := size
			if n > len(b) {
				n = len(b)
			}
			s.feed(bytes.Clone(b[:n]))
			b = b[n:]
		}
		if !reflect.DeepEqual(s.heads, want) || s.state != scanDone {
			t.Fatalf("split by %d: heads %+v, state %v", size, s.heads, s.state)
		}
	}
	// Malformed framing stops the scanner (net/http refuses it too).
	for _, raw := range []string{
		"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n",     // bare LF after a chunk size
		"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n", // not hex
		"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
		"POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"POST /a HTTP/1.1\r\nContent-Length : 1\r\n\r\n",
		"\r\nGET / HTTP/1.1\r\n\r\n",
	} {
		var s framingScanner
		s.feed([]byte(raw))
		if s.state != scanDone {
			t.Errorf("%q: state %v, want done", raw, s.state)
		}
	}
}
