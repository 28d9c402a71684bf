package sdkhttp

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// closedWriterTo behaves like smithy-go's request body after its Close:
// Read and WriteTo answer io.EOF, and WriteTo's EOF is an error to io.Copy.
type closedWriterTo struct{ closed bool }

func (b *closedWriterTo) Read(p []byte) (int, error) {
	if b.closed {
		return 0, io.EOF
	}
	return copy(p, "{}"), io.EOF
}
func (b *closedWriterTo) WriteTo(io.Writer) (int64, error) { return 0, io.EOF }
func (b *closedWriterTo) Close() error                     { b.closed = true; return nil }

type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// TestClientHidesWriteTo: the transport sees a body without WriteTo, so
// net/http's check for bytes beyond Content-Length (io.Copy to io.Discard)
// ends cleanly after the caller closed the body — the unwrapped body makes
// that copy fail, which is the write error that killed connections.
func TestClientHidesWriteTo(t *testing.T) {
	raw := &closedWriterTo{}
	_ = raw.Close()
	if _, err := io.Copy(io.Discard, raw); err == nil {
		t.Fatal("precondition: io.Copy of the closed raw body should fail with WriteTo's EOF")
	}

	body := &closedWriterTo{}
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", body)
	var seen io.ReadCloser
	c := Client(doerFunc(func(r *http.Request) (*http.Response, error) {
		seen = r.Body
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(""))}, nil
	}))
	if _, err := c.Do(req); err != nil {
		t.Fatal(err)
	}
	if _, ok := seen.(io.WriterTo); ok {
		t.Fatal("the transport still sees WriteTo")
	}
	if req.Body != io.ReadCloser(body) {
		t.Fatal("the caller's request was modified")
	}
	_ = req.Body.Close() // what smithy-go does once the headers are in
	if _, err := io.Copy(io.Discard, seen); err != nil {
		t.Fatalf("extra-bytes check after Close: %v", err)
	}
	if !body.closed {
		t.Fatal("closing the wrapper must close the body")
	}
	var buf bytes.Buffer
	if n, err := io.Copy(&buf, seen); n != 0 || err != nil {
		t.Fatalf("read after close: %d %v", n, err)
	}
}

func TestClientWrapsOnce(t *testing.T) {
	c := Client(nil)
	if Client(c) != c {
		t.Fatal("wrapping twice added a layer")
	}
	if _, ok := c.(interface{ CloseIdleConnections() }); !ok {
		t.Fatal("CloseIdleConnections not forwarded")
	}
}
