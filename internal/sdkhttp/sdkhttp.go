// Package sdkhttp holds the HTTP client decorator every aws.Config of
// ssmtui goes through.
//
// It closes a race between smithy-go and net/http that fails a call whose
// answer arrives very quickly (first seen against the loopback sandbox, about
// 1 call in 200 under -race, but nothing makes it loopback-only):
//
//  1. net/http writes the request headers, flushes them (the body type is
//     not one it knows to be in memory), then writes the body straight to
//     the socket, and afterwards reads the body once more to check that it
//     holds no bytes beyond Content-Length. That read goes through the
//     body's WriteTo when it has one.
//  2. The server has the whole request before that check runs and may
//     answer at once; smithy-go closes the request body as soon as
//     client.Do returns the response headers (transport/http/client.go).
//  3. smithy-go's closed body answers WriteTo with (0, io.EOF). io.Copy
//     passes a WriteTo error through unfiltered, so net/http's writeLoop
//     sees a write error, closes the connection under the response being
//     read, and the call fails with "read tcp …: use of closed network
//     connection" while deserializing a 200 answer.
//
// Client hides WriteTo from request bodies, so the check uses Read, which
// ends with a plain io.EOF after Close and is not an error.
package sdkhttp

import (
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// Client returns base (a new awshttp.BuildableClient when nil) wrapped so
// that request bodies are read only through Read. Wrapping twice is a
// no-op. The wrapper keeps base's transport, timeouts and connection pool.
func Client(base aws.HTTPClient) aws.HTTPClient {
	if base == nil {
		base = awshttp.NewBuildableClient()
	}
	if c, ok := base.(client); ok {
		return c
	}
	return client{base: base}
}

type client struct{ base aws.HTTPClient }

// Do sends r with its body behind a Read/Close-only wrapper.
func (c client) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r = r.WithContext(r.Context()) // shallow copy: the caller's request is not modified
		r.Body = readCloser{r.Body}
	}
	return c.base.Do(r)
}

// CloseIdleConnections closes the idle connections of base when it can.
func (c client) CloseIdleConnections() {
	if ci, ok := c.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// readCloser exposes only Read and Close of the body it wraps.
type readCloser struct{ rc io.ReadCloser }

func (b readCloser) Read(p []byte) (int, error) { return b.rc.Read(p) }
func (b readCloser) Close() error               { return b.rc.Close() }
