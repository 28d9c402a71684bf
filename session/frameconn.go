package session

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ssmtui/ssmtui/session/wire"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// DefaultPingInterval is how often a client WebSocket sends a keepalive
// ping (the plugin uses 5 minutes; shorter keeps idle NAT mappings alive).
const DefaultPingInterval = time.Minute

// slab hands out consecutive pieces of a shared buffer: one allocation per
// many frames instead of one each. A piece is never handed out twice, so its
// holder owns it like a fresh buffer; a slab is freed by the GC once no
// piece of it is referenced. Not safe for concurrent use.
type slab struct{ buf []byte }

// slabSize is the largest small-object size: no large-object allocation.
const slabSize = 32 << 10

// alloc returns a zero-length slice with capacity n.
func (s *slab) alloc(n int) []byte {
	if n > slabSize/8 {
		return make([]byte, 0, n)
	}
	if cap(s.buf)-len(s.buf) < n {
		s.buf = make([]byte, 0, slabSize)
	}
	off := len(s.buf)
	s.buf = s.buf[:off+n]
	return s.buf[off : off : off+n]
}

// wsFrameConn adapts a gorilla WebSocket to FrameConn.
type wsFrameConn struct {
	ws        *websocket.Conn
	rslab     slab       // ReadMessage's buffers (one reader at a time)
	batch     *BatchConn // nil unless the socket was dialed through one
	closeOnce sync.Once
	stop      chan struct{}
	pingDone  chan struct{}
}

// batcher is implemented by transports that can coalesce a burst of
// frames (the Stream's writer brackets each burst with it).
type batcher interface {
	StartBatch()
	EndBatch() error
}

// BatchConn buffers writes between StartBatch and EndBatch so that a burst
// of small frames (data and acks) costs one write system call. Outside a
// batch, writes go straight through, so gorilla's control frames (pong,
// close) are never delayed. Wrap the raw connection under a websocket with
// it (&BatchConn{Conn: c}); the sandbox's gateway and agent use it too.
// It is safe for concurrent use.
type BatchConn struct {
	net.Conn
	mu       sync.Mutex
	batching bool
	buf      []byte
}

const batchFlushAt = 64 << 10

// Write buffers p while batching, else writes it through.
func (b *BatchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock() // held while flushing: keeps frames in order
	if !b.batching {
		return b.Conn.Write(p)
	}
	b.buf = append(b.buf, p...)
	if len(b.buf) >= batchFlushAt {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (b *BatchConn) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.Conn.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// StartBatch begins buffering writes.
func (b *BatchConn) StartBatch() {
	b.mu.Lock()
	b.batching = true
	b.mu.Unlock()
}

// EndBatch stops buffering and writes what was buffered.
func (b *BatchConn) EndBatch() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batching = false
	return b.flushLocked()
}

// StartBatch begins coalescing writes (no-op without a BatchConn).
func (c *wsFrameConn) StartBatch() {
	if c.batch != nil {
		c.batch.StartBatch()
	}
}

// EndBatch flushes the writes coalesced since StartBatch.
func (c *wsFrameConn) EndBatch() error {
	if c.batch != nil {
		return c.batch.EndBatch()
	}
	return nil
}

// NewWebSocketFrameConn adapts ws to a [FrameConn]: binary messages are
// frames, text messages are skipped, and a "keepalive" ping is sent every
// pingInterval (none if ≤ 0) until Close. Close sends a best-effort close
// frame and closes the socket; it is idempotent.
func NewWebSocketFrameConn(ws *websocket.Conn, pingInterval time.Duration) FrameConn {
	c := &wsFrameConn{ws: ws, stop: make(chan struct{}), pingDone: make(chan struct{})}
	if pingInterval > 0 {
		go c.pinger(pingInterval)
	} else {
		close(c.pingDone)
	}
	return c
}

func (c *wsFrameConn) pinger(every time.Duration) {
	defer close(c.pingDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := c.ws.WriteControl(websocket.PingMessage, []byte("keepalive"), time.Now().Add(10*time.Second)); err != nil {
			return
		}
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
	}
}

// maxFrame bounds the buffer allocated from a frame's declared length.
const maxFrame = 1 << 24

// ReadMessage returns the next binary message in a buffer sized from the
// frame header, carved from a slab (no allocation per frame).
func (c *wsFrameConn) ReadMessage() ([]byte, error) {
	for {
		mt, r, err := c.ws.NextReader()
		if err != nil {
			return nil, err
		}
		if mt != websocket.BinaryMessage {
			continue // the next NextReader call discards it
		}
		var hdr [wire.FrameOverhead]byte
		n, err := io.ReadFull(r, hdr[:])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return append([]byte(nil), hdr[:n]...), nil // short: Decode reports it
		}
		if err != nil {
			return nil, err
		}
		hl := binary.BigEndian.Uint32(hdr[:])
		off := uint32(wire.HeaderLength)
		if hl == wire.LegacyHeaderLength {
			off = wire.LegacyHeaderLength
		}
		total := int(hl) + 4 + int(binary.BigEndian.Uint32(hdr[off:]))
		if (hl != wire.HeaderLength && hl != wire.LegacyHeaderLength) || total < n || total > maxFrame {
			rest, err := io.ReadAll(io.LimitReader(r, maxFrame))
			if err != nil {
				return nil, err
			}
			return append(hdr[:n:n], rest...), nil
		}
		b := c.rslab.alloc(total + 1)[:total]
		copy(b, hdr[:n])
		if _, err := io.ReadFull(r, b[n:]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return b[:n], nil // truncated: Decode reports it
			}
			return nil, err
		}
		// Trailing bytes beyond the declared length: hand them to Decode.
		if k, _ := r.Read(b[total : total+1]); k > 0 {
			rest, err := io.ReadAll(io.LimitReader(r, maxFrame))
			if err != nil {
				return nil, err
			}
			b = append(b[:total+1], rest...)
		}
		return b, nil
	}
}

// WriteMessage sends frame as one binary WebSocket message.
func (c *wsFrameConn) WriteMessage(frame []byte) error {
	return c.ws.WriteMessage(websocket.BinaryMessage, frame)
}

// Close sends a best-effort close frame, giving up after 300 ms (a write
// stuck on a dead peer must not hold Close), then closes the socket, which
// unblocks every pending read and write.
func (c *wsFrameConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.stop)
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			_ = c.ws.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(250*time.Millisecond))
		}()
		t := time.NewTimer(300 * time.Millisecond)
		select {
		case <-sent:
		case <-t.C:
		}
		t.Stop()
		err = c.ws.Close()
		<-sent
		<-c.pingDone
	})
	return err
}
