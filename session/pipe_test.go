package session

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/ssmtui/ssmtui/session/wire"
)

var errPipeClosed = errors.New("frame pipe closed")

// framePipe is one end of an in-memory FrameConn pair.
type framePipe struct {
	in     <-chan []byte
	out    chan<- []byte
	closed chan struct{}
	once   *sync.Once
}

func newFramePipe(buf int) (*framePipe, *framePipe) {
	a, b := make(chan []byte, buf), make(chan []byte, buf)
	closed := make(chan struct{})
	once := new(sync.Once)
	return &framePipe{in: a, out: b, closed: closed, once: once}, &framePipe{in: b, out: a, closed: closed, once: once}
}

func (p *framePipe) ReadMessage() ([]byte, error) {
	select {
	case <-p.closed:
		return nil, errPipeClosed
	default:
	}
	select {
	case b := <-p.in:
		return b, nil
	case <-p.closed:
		return nil, errPipeClosed
	}
}

func (p *framePipe) WriteMessage(f []byte) error {
	c := append([]byte(nil), f...)
	select {
	case p.out <- c:
		return nil
	case <-p.closed:
		return errPipeClosed
	}
}

func (p *framePipe) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

// scriptPeer plays the other end of a Stream frame by frame.
type scriptPeer struct {
	t    testing.TB
	fc   *framePipe
	role Role // the role the peer plays
}

func (p *scriptPeer) dataType() string {
	if p.role == RoleAgent {
		return wire.TypeOutputStreamData
	}
	return wire.TypeInputStreamData
}

// next returns the next frame the stream wrote, failing after 10 s.
func (p *scriptPeer) next() *wire.Message {
	p.t.Helper()
	select {
	case b := <-p.fc.in:
		var m wire.Message
		if err := wire.Decode(b, &m); err != nil {
			p.t.Fatalf("stream wrote a bad frame: %v", err)
		}
		return &m
	case <-time.After(10 * time.Second):
		p.t.Fatal("timed out waiting for a frame from the stream")
		return nil
	}
}

// nextData skips acks and returns the next stream-data frame.
func (p *scriptPeer) nextData() *wire.Message {
	p.t.Helper()
	for {
		m := p.next()
		if m.MessageType != wire.TypeAcknowledge {
			return m
		}
	}
}

// nextAck skips data and returns the sequence number of the next ack.
func (p *scriptPeer) nextAck() int64 {
	p.t.Helper()
	for {
		m := p.next()
		if m.MessageType == wire.TypeAcknowledge {
			a, err := wire.ParseAcknowledge(m.Payload)
			if err != nil {
				p.t.Fatal(err)
			}
			return a.AcknowledgedMessageSequenceNumber
		}
	}
}

func (p *scriptPeer) write(m *wire.Message) {
	p.t.Helper()
	if m.SchemaVersion == 0 {
		m.SchemaVersion = 1
	}
	if m.CreatedDate == 0 {
		m.CreatedDate = uint64(time.Now().UnixMilli())
	}
	if m.MessageID == uuid.Nil {
		m.MessageID = uuid.New()
	}
	f, err := wire.AppendMessage(nil, m)
	if err != nil {
		p.t.Fatal(err)
	}
	p.raw(f)
}

func (p *scriptPeer) raw(f []byte) {
	p.t.Helper()
	select {
	case p.fc.out <- f:
	case <-time.After(10 * time.Second):
		p.t.Fatal("timed out writing to the stream")
	}
}

// data sends a stream message with an explicit sequence number.
func (p *scriptPeer) data(seq int64, pt wire.PayloadType, payload []byte) {
	p.t.Helper()
	p.write(&wire.Message{MessageType: p.dataType(), SequenceNumber: seq, PayloadType: pt, Payload: payload})
}

func (p *scriptPeer) ack(m *wire.Message) {
	p.t.Helper()
	p.write(&wire.Message{MessageType: wire.TypeAcknowledge, Flags: wire.FlagsAck,
		Payload: wire.AppendAcknowledge(nil, m.MessageType, m.MessageID, m.SequenceNumber)})
}

func (p *scriptPeer) control(typ string) {
	p.t.Helper()
	p.write(&wire.Message{MessageType: typ})
}

func (p *scriptPeer) channelClosed(output string) {
	p.t.Helper()
	b, _ := json.Marshal(wire.ChannelClosed{MessageType: wire.TypeChannelClosed, SessionID: "s-1", SchemaVersion: 1, Output: output})
	p.write(&wire.Message{MessageType: wire.TypeChannelClosed, Payload: b})
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
