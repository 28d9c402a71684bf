package sandbox

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/ssmtui/ssmtui/session"
)

// batchHijacker hands gorilla's Upgrader a session.BatchConn instead of the raw
// hijacked connection, so the relay can coalesce the frames it writes.
type batchHijacker struct {
	http.ResponseWriter
	conn *session.BatchConn // set by Hijack
}

// Hijack takes over the connection and wraps it in a session.BatchConn.
func (h *batchHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("sandbox: response writer cannot be hijacked")
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &session.BatchConn{Conn: c}
	return h.conn, brw, nil
}

// readAppend reads r to its end, appending to b (growing it if needed).
func readAppend(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		k, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+k]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// slabReader reads whole websocket messages into consecutive pieces of a
// shared slab: one allocation per many frames instead of io.ReadAll's
// several per frame. A returned frame is never overwritten (its capacity
// ends at its length), so callers own it like a fresh buffer; a slab is
// freed once no frame of it is referenced.
type slabReader struct{ buf []byte }

const (
	slabSize    = 32 << 10 // the largest small-object size: no large-object churn
	slabMinFree = 2 << 10  // start a new slab below this much room
)

// read reads r to its end and returns the message.
func (s *slabReader) read(r io.Reader) ([]byte, error) {
	if cap(s.buf)-len(s.buf) < slabMinFree {
		s.buf = make([]byte, 0, slabSize)
	}
	start := len(s.buf)
	for {
		if len(s.buf) == cap(s.buf) {
			// Message larger than the room left: move it to a new slab.
			n := len(s.buf) - start
			nb := make([]byte, n, max(slabSize, 2*n))
			copy(nb, s.buf[start:])
			s.buf, start = nb, 0
		}
		k, err := r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+k]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	end := len(s.buf)
	return s.buf[start:end:end], nil
}
