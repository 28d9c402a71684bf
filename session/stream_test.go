package session

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ssmtui/ssmtui/session/wire"
)

// newTestStream returns a client-role stream attached to a scripted agent.
func newTestStream(t *testing.T, cfg StreamConfig) (*Stream, *scriptPeer) {
	t.Helper()
	a, b := newFramePipe(1024)
	s := NewStream(cfg)
	if err := s.Attach(a); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, &scriptPeer{t: t, fc: b, role: RoleAgent}
}

func recvString(t *testing.T, s *Stream) string {
	t.Helper()
	pt, p, err := s.Recv(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if pt != wire.PayloadOutput {
		t.Fatalf("payload type %v", pt)
	}
	return string(p)
}

func TestStreamClientFraming(t *testing.T) {
	s, peer := newTestStream(t, StreamConfig{Role: RoleClient})
	buf := []byte("hello")
	if err := s.Send(testCtx(t), wire.PayloadOutput, buf); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXX") // the stream must have copied p
	m := peer.nextData()
	if m.MessageType != wire.TypeInputStreamData || m.SequenceNumber != 0 || m.Flags != 0 || string(m.Payload) != "hello" {
		t.Fatalf("got %+v", m)
	}
	s.Send(testCtx(t), wire.PayloadOutput, []byte("x"))
	if m := peer.nextData(); m.SequenceNumber != 1 {
		t.Fatalf("seq %d", m.SequenceNumber)
	}
}

func TestStreamAgentFraming(t *testing.T) {
	a, b := newFramePipe(16)
	s := NewStream(StreamConfig{Role: RoleAgent})
	s.Attach(a)
	defer s.Close()
	peer := &scriptPeer{t: t, fc: b, role: RoleClient}
	s.Send(testCtx(t), wire.PayloadHandshakeRequest, []byte("{}"))
	s.Send(testCtx(t), wire.PayloadOutput, []byte("x"))
	m0, m1 := peer.nextData(), peer.nextData()
	if m0.MessageType != wire.TypeOutputStreamData || m0.Flags != wire.FlagSYN || m1.Flags != 0 || m1.SequenceNumber != 1 {
		t.Fatalf("agent framing: %+v %+v", m0, m1)
	}
	// Agent acks input_stream_data.
	peer.data(0, wire.PayloadOutput, []byte("in"))
	if got := peer.nextAck(); got != 0 {
		t.Fatalf("ack %d", got)
	}
}

func TestStreamReorderAndDuplicates(t *testing.T) {
	s, peer := newTestStream(t, StreamConfig{})
	peer.data(2, wire.PayloadOutput, []byte("c"))
	peer.data(1, wire.PayloadOutput, []byte("b"))
	if a, b := peer.nextAck(), peer.nextAck(); a != 2 || b != 1 {
		t.Fatalf("out-of-order messages must be acked when stored: %d %d", a, b)
	}
	if st := s.Stats(); st.Reordered != 2 || st.Buffered != 0 {
		t.Fatalf("stats %+v", st)
	}
	peer.data(0, wire.PayloadOutput, []byte("a"))
	if got := peer.nextAck(); got != 0 {
		t.Fatalf("ack %d", got)
	}
	for _, want := range []string{"a", "b", "c"} {
		if got := recvString(t, s); got != want {
			t.Fatalf("got %q want %q", got, want)
		}
	}
	// A duplicate of an already delivered message is re-acked, not delivered.
	peer.data(1, wire.PayloadOutput, []byte("b"))
	if got := peer.nextAck(); got != 1 {
		t.Fatalf("duplicate not re-acked: %d", got)
	}
	peer.data(3, wire.PayloadOutput, []byte("d"))
	if got := recvString(t, s); got != "d" {
		t.Fatalf("duplicate delivered: got %q", got)
	}
}

func TestStreamReorderCapDropsUnacked(t *testing.T) {
	s, peer := newTestStream(t, StreamConfig{ReorderCap: 1})
	peer.data(1, wire.PayloadOutput, []byte("b"))
	peer.data(2, wire.PayloadOutput, []byte("c")) // no room: dropped, not acked
	peer.data(0, wire.PayloadOutput, []byte("a"))
	if a, b := peer.nextAck(), peer.nextAck(); a != 1 || b != 0 {
		t.Fatalf("acks %d %d (seq 2 must not be acked)", a, b)
	}
	peer.data(2, wire.PayloadOutput, []byte("c")) // the resend
	if got := peer.nextAck(); got != 2 {
		t.Fatalf("ack %d", got)
	}
	for _, want := range []string{"a", "b", "c"} {
		if got := recvString(t, s); got != want {
			t.Fatalf("got %q want %q", got, want)
		}
	}
}

func TestStreamResendUntilAcked(t *testing.T) {
	s, peer := newTestStream(t, StreamConfig{})
	s.Send(testCtx(t), wire.PayloadOutput, []byte("lost"))
	first := peer.nextData()
	again := peer.nextData() // not acked: retransmitted after the RTO
	if again.SequenceNumber != first.SequenceNumber || again.MessageID != first.MessageID || !bytes.Equal(again.Payload, first.Payload) || again.CreatedDate != first.CreatedDate {
		t.Fatalf("resend differs: %+v vs %+v", again, first)
	}
	peer.ack(again)
	if err := s.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Resent == 0 || st.Unacked != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStreamPauseBlocksSend(t *testing.T) {
	s, peer := newTestStream(t, StreamConfig{})
	peer.control(wire.TypePausePublication)
	waitFor(t, func() bool { return s.Stats().Paused })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Send(ctx, wire.PayloadOutput, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send while paused: %v", err)
	}
	if st := s.Stats(); st.NextSeq != 0 {
		t.Fatalf("a timed-out Send must not consume a sequence number: %+v", st)
	}
	done := make(chan error, 1)
	go func() { done <- s.Send(testCtx(t), wire.PayloadOutput, []byte("y")) }()
	peer.control(wire.TypeStartPublication)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m := peer.nextData(); string(m.Payload) != "y" || m.SequenceNumber != 0 {
		t.Fatalf("%+v", m)
	}
}

// TestStreamPeerTrafficLiftsPause: data or an ack from the peer proves it
// is active, so a stale pause cannot block Send forever (both roles).
func TestStreamPeerTrafficLiftsPause(t *testing.T) {
	s, peer := newTestStream(t, StreamConfig{})
	peer.control(wire.TypePausePublication)
	waitFor(t, func() bool { return s.Stats().Paused })
	peer.data(0, wire.PayloadOutput, []byte("o"))
	waitFor(t, func() bool { return !s.Stats().Paused })
	if err := s.Send(testCtx(t), wire.PayloadOutput, []byte("x")); err != nil {
		t.Fatal(err)
	}
}

func TestStreamAgentResumesOnInput(t *testing.T) {
	a, b := newFramePipe(16)
	s := NewStream(StreamConfig{Role: RoleAgent})
	s.Attach(a)
	defer s.Close()
	peer := &scriptPeer{t: t, fc: b, role: RoleClient}
	peer.control(wire.TypePausePublication)
	waitFor(t, func() bool { return s.Stats().Paused })
	peer.data(0, wire.PayloadOutput, []byte("k"))
	waitFor(t, func() bool { return !s.Stats().Paused })
}

func TestStreamWindowBlocksSend(t *testing.T) {
	s, peer := newTestStream(t, StreamConfig{Window: 2048})
	ctx := testCtx(t)
	for range 2 {
		if err := s.Send(ctx, wire.PayloadOutput, make([]byte, 1024)); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.Send(short, wire.PayloadOutput, make([]byte, 1024)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send with a full window: %v", err)
	}
	m0 := peer.nextData()
	peer.ack(m0)
	if err := s.Send(ctx, wire.PayloadOutput, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.UnackedBytes != 2048 || st.NextSeq != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStreamChannelClosedAfterData(t *testing.T) {
	s, peer := newTestStream(t, StreamConfig{})
	peer.data(0, wire.PayloadOutput, []byte("last words"))
	peer.channelClosed("agent went away")
	<-s.Done()
	if got := recvString(t, s); got != "last words" {
		t.Fatalf("got %q", got)
	}
	if _, _, err := s.Recv(testCtx(t)); err != io.EOF {
		t.Fatalf("want io.EOF, got %v", err)
	}
	var cc *ChannelClosedError
	if err := s.Err(); !errors.As(err, &cc) || cc.Output != "agent went away" || !errors.Is(err, io.EOF) {
		t.Fatalf("Err() = %v", err)
	}
	if err := s.Send(testCtx(t), wire.PayloadOutput, []byte("x")); !errors.As(err, &cc) {
		t.Fatalf("Send after channel_closed: %v", err)
	}
}

func TestStreamCorruptFrameIsProtocolError(t *testing.T) {
	for name, mangle := range map[string]func([]byte) []byte{
		"digest":    func(f []byte) []byte { f[len(f)-1] ^= 0xff; return f },
		"truncated": func(f []byte) []byte { return f[:60] },
	} {
		t.Run(name, func(t *testing.T) {
			s, peer := newTestStream(t, StreamConfig{})
			m := &wire.Message{MessageType: wire.TypeOutputStreamData, SchemaVersion: 1, CreatedDate: 1, PayloadType: wire.PayloadOutput, Payload: []byte("data")}
			f, _ := wire.AppendMessage(nil, m)
			peer.raw(mangle(f))
			_, _, err := s.Recv(testCtx(t))
			var pe *ProtocolError
			if !errors.As(err, &pe) || !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("want *ProtocolError, got %v", err)
			}
			<-s.Done()
		})
	}
}

func TestStreamCloseUnblocks(t *testing.T) {
	s, _ := newTestStream(t, StreamConfig{Window: 1})
	s.Send(testCtx(t), wire.PayloadOutput, []byte("fill"))
	errs := make(chan error, 2)
	go func() { _, _, err := s.Recv(context.Background()); errs <- err }()
	go func() { errs <- s.Send(context.Background(), wire.PayloadOutput, []byte("blocked")) }()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	for range 2 {
		if err := <-errs; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("want net.ErrClosed, got %v", err)
		}
	}
	s.Close() // idempotent
}

// fakeClock is a manually advanced clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestStreamRTOMath(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1700000000, 0)}
	s, peer := newTestStream(t, StreamConfig{Now: clk.Now})
	if st := s.Stats(); st.RTO != 200*time.Millisecond || st.RTT != 100*time.Millisecond {
		t.Fatalf("initial %+v", st)
	}
	s.Send(testCtx(t), wire.PayloadOutput, []byte("x"))
	m := peer.nextData()
	clk.Add(50 * time.Millisecond)
	peer.ack(m)
	waitFor(t, func() bool { return s.Stats().Unacked == 0 })
	st := s.Stats()
	if st.RTT != 93750*time.Microsecond || st.RTO != 143750*time.Microsecond {
		t.Fatalf("after a 50 ms sample: RTT %v RTO %v, want 93.75ms 143.75ms", st.RTT, st.RTO)
	}
	// A slow sample is capped at 1 s.
	s.Send(testCtx(t), wire.PayloadOutput, []byte("y"))
	m = peer.nextData()
	clk.Add(30 * time.Second)
	peer.ack(m)
	waitFor(t, func() bool { return s.Stats().Unacked == 0 })
	if st := s.Stats(); st.RTO != time.Second {
		t.Fatalf("RTO %v, want the 1 s cap", st.RTO)
	}
}

func TestStreamResendTimeout(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1700000000, 0)}
	s, peer := newTestStream(t, StreamConfig{Now: clk.Now, ResendTimeout: time.Minute})
	s.Send(testCtx(t), wire.PayloadOutput, []byte("x"))
	peer.nextData()
	clk.Add(2 * time.Minute)
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("stream did not give up")
	}
	var rt *ResendTimeoutError
	if !errors.As(s.Err(), &rt) || rt.SequenceNumber != 0 {
		t.Fatalf("Err() = %v", s.Err())
	}
}

func TestStreamStalledReaderBounded(t *testing.T) {
	const n, size, capBytes = 400, 1024, 8 << 10
	s, peer := newTestStream(t, StreamConfig{RecvBuffer: capBytes})
	go func() {
		for i := range n {
			b := bytes.Repeat([]byte{byte(i)}, size)
			m := &wire.Message{MessageType: wire.TypeOutputStreamData, SchemaVersion: 1, CreatedDate: 1, SequenceNumber: int64(i), PayloadType: wire.PayloadOutput, Payload: b}
			f, _ := wire.AppendMessage(nil, m)
			select {
			case peer.fc.out <- f:
			case <-s.Done():
				return
			}
		}
	}()
	// With nobody calling Recv the stream acks RecvBuffer bytes, holds as
	// much again unacked, then stops reading.
	waitFor(t, func() bool { return s.Stats().Buffered >= 2*capBytes })
	time.Sleep(50 * time.Millisecond)
	if st := s.Stats(); st.Buffered > 2*capBytes+size || st.Expected > 2*capBytes/size+1 {
		t.Fatalf("stalled reader grew the buffer: %+v", st)
	}
	acked := 0
	for len(peer.fc.in) > 0 {
		if m := peer.next(); m.MessageType == wire.TypeAcknowledge {
			acked++
		}
	}
	if acked != capBytes/size {
		t.Fatalf("%d messages acked, want %d (only RecvBuffer worth)", acked, capBytes/size)
	}
	for i := range n {
		_, p, err := s.Recv(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != size || p[0] != byte(i) {
			t.Fatalf("message %d: len %d first %d", i, len(p), p[0])
		}
	}
}

func TestStreamResumeRetransmits(t *testing.T) {
	detached := make(chan error, 1)
	a1, b1 := newFramePipe(64)
	s := NewStream(StreamConfig{OnDetach: func(err error) { detached <- err }})
	defer s.Close()
	s.Attach(a1)
	p1 := &scriptPeer{t: t, fc: b1, role: RoleAgent}
	ctx := testCtx(t)
	s.Send(ctx, wire.PayloadOutput, []byte("m0"))
	s.Send(ctx, wire.PayloadOutput, []byte("m1"))
	p1.ack(p1.nextData()) // m0 acked, m1 not
	p1.nextData()
	p1.data(0, wire.PayloadOutput, []byte("o0"))
	p1.nextAck()
	waitFor(t, func() bool { return s.Stats().Unacked == 1 })
	b1.Close() // the socket dies
	if err := <-detached; !errors.Is(err, errPipeClosed) {
		t.Fatalf("OnDetach(%v)", err)
	}
	// Sends queue while detached.
	if err := s.Send(ctx, wire.PayloadOutput, []byte("m2")); err != nil {
		t.Fatalf("Send while detached: %v", err)
	}
	a2, b2 := newFramePipe(64)
	if err := s.Attach(a2); err != nil {
		t.Fatal(err)
	}
	p2 := &scriptPeer{t: t, fc: b2, role: RoleAgent}
	for _, want := range []string{"m1", "m2"} {
		m := p2.nextData()
		if string(m.Payload) != want {
			t.Fatalf("got %q want %q", m.Payload, want)
		}
		p2.ack(m)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Incoming sequence state survived: seq 1 is next, seq 0 is a duplicate.
	p2.data(0, wire.PayloadOutput, []byte("o0"))
	p2.data(1, wire.PayloadOutput, []byte("o1"))
	if got := recvString(t, s); got != "o0" {
		t.Fatal(got)
	}
	if got := recvString(t, s); got != "o1" {
		t.Fatalf("got %q", got)
	}
}

// TestStreamPairBulk runs a client and an agent stream against each other.
func TestStreamPairBulk(t *testing.T) {
	a, b := newFramePipe(64)
	c := NewStream(StreamConfig{Role: RoleClient, Window: 16 << 10})
	g := NewStream(StreamConfig{Role: RoleAgent, Window: 16 << 10})
	defer c.Close()
	defer g.Close()
	c.Attach(a)
	g.Attach(b)
	ctx := testCtx(t)
	data := make([]byte, 300<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var wg sync.WaitGroup
	for _, dir := range []struct{ from, to *Stream }{{c, g}, {g, c}} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := dir.from.Write(ctx, wire.PayloadOutput, data); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			var got []byte
			for len(got) < len(data) {
				_, p, err := dir.to.Recv(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if len(p) > DefaultMaxPayload {
					t.Errorf("payload of %d bytes", len(p))
				}
				got = append(got, p...)
			}
			if !bytes.Equal(got, data) {
				t.Error("data corrupted")
			}
		}()
	}
	wg.Wait()
	for _, s := range []*Stream{c, g} {
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStreamDeferredAcks: data beyond RecvBuffer is acked when Recv takes
// it, and a duplicate of a deferred message is not acked early.
func TestStreamDeferredAcks(t *testing.T) {
	s, peer := newTestStream(t, StreamConfig{RecvBuffer: 2, RecvHold: 100})
	peer.data(0, wire.PayloadOutput, []byte("aa"))
	if got := peer.nextAck(); got != 0 {
		t.Fatal(got)
	}
	peer.data(1, wire.PayloadOutput, []byte("bb")) // over budget: deferred
	peer.data(1, wire.PayloadOutput, []byte("bb")) // duplicate: still deferred
	peer.data(0, wire.PayloadOutput, []byte("aa")) // old duplicate: re-acked
	if got := peer.nextAck(); got != 0 {
		t.Fatalf("ack %d, want the re-ack of 0", got)
	}
	if got := recvString(t, s); got != "aa" {
		t.Fatal(got)
	}
	if got := recvString(t, s); got != "bb" {
		t.Fatal(got)
	}
	if got := peer.nextAck(); got != 1 {
		t.Fatalf("deferred ack %d", got)
	}
	if len(peer.fc.in) != 0 {
		t.Fatal("unexpected extra frames")
	}
}

// TestStreamEchoNoDeadlock: an application that echoes (Recv, then Send)
// while its peer floods must not deadlock when its receive budget is full:
// acks for its own sends must still be processed.
func TestStreamEchoNoDeadlock(t *testing.T) {
	a, b := newFramePipe(64)
	// RecvHold ≥ the peer's Window: the hard stop is never reached.
	small := StreamConfig{Window: 8 << 10, RecvBuffer: 4 << 10, RecvHold: 8 << 10}
	cl, ag := small, small
	cl.Role, ag.Role = RoleClient, RoleAgent
	c, g := NewStream(cl), NewStream(ag)
	defer c.Close()
	defer g.Close()
	c.Attach(a)
	g.Attach(b)
	ctx := testCtx(t)
	const total = 2 << 20
	go func() { // client: echo everything back
		for {
			_, p, err := c.Recv(ctx)
			if err != nil {
				return
			}
			if err := c.Send(ctx, wire.PayloadOutput, p); err != nil {
				return
			}
		}
	}()
	go func() { // agent: flood
		buf := make([]byte, 1024)
		for sent := 0; sent < total; sent += len(buf) {
			if err := g.Send(ctx, wire.PayloadOutput, buf); err != nil {
				return
			}
		}
	}()
	// The agent reads the echo only after a delay, so every buffer fills.
	time.Sleep(100 * time.Millisecond)
	got := 0
	for got < total {
		_, p, err := g.Recv(ctx)
		if err != nil {
			t.Fatalf("after %d echoed bytes: %v (client %+v, agent %+v)", got, err, c.Stats(), g.Stats())
		}
		got += len(p)
	}
}

// TestStreamPauseTimeout: a pause that is never lifted stops holding Send
// after PauseTimeout (injected clock).
func TestStreamPauseTimeout(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1700000000, 0)}
	s, peer := newTestStream(t, StreamConfig{Now: clk.Now, PauseTimeout: time.Minute})
	peer.control(wire.TypePausePublication)
	waitFor(t, func() bool { return s.Stats().Paused })
	done := make(chan error, 1)
	go func() { done <- s.Send(testCtx(t), wire.PayloadOutput, []byte("x")) }()
	clk.Add(2 * time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m := peer.nextData(); string(m.Payload) != "x" {
		t.Fatalf("%+v", m)
	}
}

// TestStreamStartPublicationResends: start_publication retransmits every
// unacked message at once (the service may have dropped them while it had
// no peer), without waiting for the RTO. The clock is frozen so no RTO can
// ever expire: the resend can only come from start_publication.
func TestStreamStartPublicationResends(t *testing.T) {
	for _, role := range []Role{RoleClient, RoleAgent} {
		t.Run(role.String(), func(t *testing.T) {
			frozen := time.Unix(1700000000, 0)
			s, peer := newTestStream(t, StreamConfig{Role: role, Now: func() time.Time { return frozen }})
			for _, p := range []string{"a", "b"} {
				if err := s.Send(testCtx(t), wire.PayloadOutput, []byte(p)); err != nil {
					t.Fatal(err)
				}
			}
			first := []*wire.Message{peer.nextData(), peer.nextData()} // "dropped"
			peer.control(wire.TypeStartPublication)
			for i, want := range first {
				m := peer.nextData()
				if m.SequenceNumber != want.SequenceNumber || m.MessageID != want.MessageID || !bytes.Equal(m.Payload, want.Payload) {
					t.Fatalf("resend %d: %+v, want %+v", i, m, want)
				}
				peer.ack(m)
			}
			if err := s.Flush(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			if st := s.Stats(); st.Resent != 0 {
				t.Fatalf("resent by RTO, not by start_publication: %+v", st)
			}
		})
	}
}
