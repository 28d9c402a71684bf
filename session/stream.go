package session

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/ssmtui/ssmtui/session/wire"
)

// Role says which end of a data channel a [Stream] plays. It decides the
// MessageType of outgoing stream data (client: input_stream_data, Flags 0;
// agent: output_stream_data, Flags SYN on sequence number 0) and which
// incoming type is stream data. In both roles a pause is lifted by
// start_publication or by any stream data or ack received from the peer;
// start_publication, and lifting a pause, retransmit every unacknowledged
// message at once (the service may have dropped them while it had no peer).
type Role int

const (
	// RoleClient is the session-manager-plugin side.
	RoleClient Role = iota
	// RoleAgent is the amazon-ssm-agent side (used by the sandbox agent).
	RoleAgent
)

// String returns "client" or "agent".
func (r Role) String() string {
	if r == RoleAgent {
		return "agent"
	}
	return "client"
}

// FrameConn is one transport for a [Stream]: one binary WebSocket message per
// data-channel frame. ReadMessage returns the next binary frame in a buffer the
// caller then owns (the Stream keeps slices of it); WriteMessage must not retain
// frame after returning. The Stream calls ReadMessage from one goroutine and
// WriteMessage from another, never concurrently with themselves. Close must
// unblock a pending ReadMessage and WriteMessage. See [NewWebSocketFrameConn].
type FrameConn interface {
	ReadMessage() ([]byte, error)
	WriteMessage(frame []byte) error
	Close() error
}

// Defaults of [StreamConfig].
const (
	DefaultWindow        = 256 << 10 // unacked payload bytes
	DefaultMaxPayload    = 1024      // session-manager-plugin StreamDataPayloadSize
	DefaultMaxUnacked    = 4096      // unacked messages
	DefaultReorderCap    = 4096      // out-of-order messages held
	DefaultRecvBuffer    = 1 << 20   // delivered-but-unread payload bytes
	DefaultResendTimeout = 5 * time.Minute
	DefaultPauseTimeout  = 10 * time.Second
)

// Reliability constants of ssm-protocol.md §6.1 (identical in plugin and agent).
const (
	initialRTT       = 100 * time.Millisecond
	initialRTO       = 200 * time.Millisecond
	clockGranularity = 10 * time.Millisecond
	maxRTO           = time.Second
	resendTick       = 100 * time.Millisecond
	maxQueuedAcks    = 8192
)

// StreamConfig configures a [Stream]. Zero fields take the defaults above.
type StreamConfig struct {
	// Role selects client or agent behaviour.
	Role Role
	// Window is the maximum number of unacknowledged payload bytes in flight;
	// Send blocks while it is full. A single message larger than the window
	// is still sent when nothing else is outstanding.
	Window int
	// MaxUnacked bounds the number of unacknowledged messages (small writes).
	MaxUnacked int
	// MaxPayload is the chunk size used by [Stream.Write].
	MaxPayload int
	// ReorderCap is how many out-of-order messages are held (and acked);
	// beyond it they are dropped unacked and the peer retransmits them.
	ReorderCap int
	// RecvBuffer is how many received payload bytes, not yet taken with
	// Recv, are acknowledged. Data beyond it is still stored, up to
	// RecvHold more bytes, but its acknowledgement is deferred until Recv
	// takes it: the peer's window then stops the peer while acks for our
	// own sends keep flowing (no deadlock when the application blocks in
	// Send). Past RecvBuffer+RecvHold — a peer without a window — the
	// stream stops reading its transport. Memory is bounded either way.
	RecvBuffer int
	// RecvHold is the unacknowledged overflow above RecvBuffer; default
	// RecvBuffer. Keep it at least the peer's Window so that a windowed
	// peer never trips the hard stop.
	RecvHold int
	// ResendTimeout ends the stream with a *ResendTimeoutError when the
	// oldest message stays unacknowledged this long while attached and not
	// paused (the plugin gives up after 3000 resends, about 5 minutes).
	ResendTimeout time.Duration
	// PauseTimeout bounds how long a pause_publication without a matching
	// start_publication (and without traffic from the peer) holds Send;
	// default 10 s. The plugin ignores pauses altogether.
	PauseTimeout time.Duration
	// OnDetach, if set, is called on its own goroutine when the transport
	// fails (not after Close or channel_closed). The stream keeps all state
	// and queues Sends within the window until [Stream.Attach] is called
	// again with a new transport, or [Stream.Fail] / Close ends it.
	OnDetach func(err error)
	// Logger receives debug logs; nil discards. Payloads are never logged.
	Logger *slog.Logger
	// Now is the clock for RTT/RTO and CreatedDate; nil means time.Now.
	Now func() time.Time
}

func (c *StreamConfig) setDefaults() {
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.MaxUnacked <= 0 {
		c.MaxUnacked = DefaultMaxUnacked
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.ReorderCap <= 0 {
		c.ReorderCap = DefaultReorderCap
	}
	if c.RecvBuffer <= 0 {
		c.RecvBuffer = DefaultRecvBuffer
	}
	if c.RecvHold <= 0 {
		c.RecvHold = c.RecvBuffer
	}
	if c.ResendTimeout <= 0 {
		c.ResendTimeout = DefaultResendTimeout
	}
	if c.PauseTimeout <= 0 {
		c.PauseTimeout = DefaultPauseTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// ChannelClosedError ends a stream when the service sent channel_closed
// (§10.1). It matches errors.Is(err, io.EOF): a clean end of the session.
// Output is the service's failure text, empty on a normal end.
type ChannelClosedError struct {
	SessionID string
	Output    string
}

// Error describes the failure and what to do about it.
func (e *ChannelClosedError) Error() string {
	if e.Output == "" {
		return fmt.Sprintf("session %s closed by the service", e.SessionID)
	}
	return fmt.Sprintf("session %s closed by the service: %s", e.SessionID, e.Output)
}

// Is reports true for io.EOF.
func (e *ChannelClosedError) Is(target error) bool { return target == io.EOF }

// ProtocolError reports a peer that broke the data-channel protocol (a
// corrupt or truncated frame, an impossible payload). It ends the stream.
type ProtocolError struct {
	Op  string
	Err error
}

// Error describes the failure and what to do about it.
func (e *ProtocolError) Error() string {
	return "ssm data channel protocol error: " + e.Op + ": " + e.Err.Error()
}

// Unwrap returns the underlying cause.
func (e *ProtocolError) Unwrap() error { return e.Err }

// ResendTimeoutError ends a stream whose peer stopped acknowledging.
type ResendTimeoutError struct {
	SequenceNumber int64
	Waited         time.Duration
}

// Error describes the failure and what to do about it.
func (e *ResendTimeoutError) Error() string {
	return fmt.Sprintf("ssm data channel: message %d not acknowledged after %s (agent unresponsive or instance gone)",
		e.SequenceNumber, e.Waited.Round(time.Second))
}

// Timeout reports true: this is a liveness timeout.
func (e *ResendTimeoutError) Timeout() bool { return true }

// idGen makes random (version 4) MessageIds from a ChaCha8 stream seeded
// from crypto/rand: unique without a system call per frame. Not safe for
// concurrent use; each sending goroutine owns one.
type idGen struct{ r *rand.ChaCha8 }

func newIDGen() idGen {
	var seed [32]byte
	crand.Read(seed[:])
	return idGen{r: rand.NewChaCha8(seed)}
}

func (g idGen) next() uuid.UUID {
	var u uuid.UUID
	binary.LittleEndian.PutUint64(u[:8], g.r.Uint64())
	binary.LittleEndian.PutUint64(u[8:], g.r.Uint64())
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u
}

// errCanceled is returned by the internal waiters when their cancel channel fires.
var errCanceled = errors.New("canceled")

type outEntry struct {
	frame     []byte
	size      int
	acked     bool
	lastSent  time.Time
	firstSent time.Time
}

type inMsg struct {
	pt  wire.PayloadType
	p   []byte
	ack *ackReq // deferred acknowledgement, sent when Recv takes it
}

type ackReq struct {
	typ string
	id  uuid.UUID
	seq int64
}

type transport struct {
	fc   FrameConn
	dead chan struct{}
	wake chan struct{}
	once sync.Once
}

func (t *transport) kill() {
	t.once.Do(func() {
		close(t.dead)
		t.fc.Close()
	})
}

func (t *transport) kick() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Stream is the reliable, sequenced message stream of one data channel
// (ssm-protocol.md §5, §6), usable in either [Role].
//
// Outgoing: every Send gets the next sequence number (from 0), is kept until
// the peer acknowledges it, and the oldest unacked message is resent on a
// 100 ms tick once its RTO (§6.2, with LastSentTime updated on resend) has
// passed. Send blocks while the window of unacked bytes is full or the
// service paused publication (§6.5). Incoming: stream data is delivered by
// Recv in sequence order; every stream message is acknowledged, duplicates
// included (except those whose ack is deferred, below); out-of-order
// messages are held up to ReorderCap. A reader that lags behind is handled in
// two steps: past RecvBuffer unread bytes new data is stored but acked only
// when Recv takes it, so a windowed peer stops sending while acks for our own
// sends still flow; past RecvBuffer+RecvHold the stream stops reading its
// transport. A stalled reader therefore cannot grow memory.
//
// The transport is attached with Attach and may be replaced (resume): all
// sequence state survives and unacked messages are retransmitted on the new
// transport. A transport failure calls StreamConfig.OnDetach; Sends keep
// queueing within the window meanwhile. channel_closed ends the stream like
// io.EOF after buffered data is read. All methods are safe for concurrent use.
type Stream struct {
	cfg      StreamConfig
	log      *slog.Logger
	sendType string
	recvType string

	rxFrames atomic.Uint64 // valid frames received over all transports

	// cipher, once set, encrypts sent and decrypts received payloads of
	// the types §8.3 names (KMS sessions).
	cipher atomic.Pointer[PayloadCipher]
	// decErr is the *DecryptError that ended the stream; Recv returns it
	// at once, buffered messages are dropped. Guarded by mu.
	decErr error

	sendMu sync.Mutex // serialises Send so sequence numbers follow call order
	ids    idGen      // guarded by sendMu
	fslab  slab       // outgoing frame buffers; guarded by sendMu
	recvMu sync.Mutex
	space  chan struct{} // cap 1: Recv freed inbound space
	wg     sync.WaitGroup

	mu      sync.Mutex
	changed chan struct{} // closed on state change; nil if nobody waits
	cur     *transport
	err     error // terminal error, nil while alive
	done    chan struct{}

	// outbound
	nextSeq  int64
	base     int64 // sequence number of out[0]
	out      []outEntry
	outBack  []outEntry // backing array of out, reused by appendOutLocked
	outBytes int
	sendFrom int64 // first seq not yet written on cur
	// Frame buffers of acknowledged messages are reused for new ones. A
	// writer may still be writing an acked frame it collected, so they
	// wait in retired until no writer is between collecting and writing.
	writing  int      // writeLoops currently writing collected frames
	spare    [][]byte // reusable frame buffers (cap frameBufSize)
	retired  [][]byte // acked frames, reusable once writing == 0
	paused   bool
	pausedAt time.Time
	rtt      float64 // ns
	rttv     float64
	rto      time.Duration
	resent   uint64

	// inbound
	expected int64
	reorder  map[int64]inMsg
	inq      []inMsg
	inqBack  []inMsg // backing array of inq, reused by deliverLocked
	inBytes  int
	deferred int   // messages in inq whose ack is deferred
	deferSeq int64 // lowest deferred sequence number (valid if deferred > 0)
	acks     []ackReq
}

// NewStream returns an unattached stream; call Attach to start it.
func NewStream(cfg StreamConfig) *Stream {
	cfg.setDefaults()
	s := &Stream{
		cfg:     cfg,
		log:     cfg.Logger,
		space:   make(chan struct{}, 1),
		done:    make(chan struct{}),
		rtt:     float64(initialRTT),
		rto:     initialRTO,
		reorder: make(map[int64]inMsg),
		ids:     newIDGen(),
	}
	if cfg.Role == RoleAgent {
		s.sendType, s.recvType = wire.TypeOutputStreamData, wire.TypeInputStreamData
	} else {
		s.sendType, s.recvType = wire.TypeInputStreamData, wire.TypeOutputStreamData
	}
	return s
}

// notifyLocked wakes every waiter of s.changed. s.mu must be held.
func (s *Stream) notifyLocked() {
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// waitChLocked returns a channel closed at the next state change.
func (s *Stream) waitChLocked() chan struct{} {
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// Attach starts reading and writing on fc, replacing (and closing) any
// current transport. Sequence state is kept; unacknowledged messages are
// retransmitted on fc in order. A pause from the previous transport is
// lifted. If the stream has ended, fc is closed and the terminal error is
// returned.
func (s *Stream) Attach(fc FrameConn) error {
	t := &transport{fc: fc, dead: make(chan struct{}), wake: make(chan struct{}, 1)}
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		fc.Close()
		return err
	}
	old := s.cur
	s.cur = t
	s.sendFrom = s.base
	s.paused = false
	for i := range s.out {
		s.out[i].firstSent = time.Time{}
	}
	s.wg.Add(2)
	s.notifyLocked()
	s.mu.Unlock()
	if old != nil {
		old.kill()
	}
	go s.readLoop(t)
	go s.writeLoop(t)
	t.kick()
	return nil
}

// Received reports whether any valid frame has ever been received: a peer
// that sent something accepted the channel, so a later transport loss is
// a network failure rather than a refusal.
func (s *Stream) Received() bool { return s.rxFrames.Load() > 0 }

// framesReceived counts valid frames received over all transports.
func (s *Stream) framesReceived() uint64 { return s.rxFrames.Load() }

// Attached reports whether a transport is currently attached.
func (s *Stream) Attached() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur != nil
}

// Done is closed when the stream has ended: channel_closed, a fatal error,
// Fail or Close. Data received before the end can still be read with Recv.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err returns why the stream ended (nil while it is alive): a
// *ChannelClosedError (errors.Is io.EOF) after channel_closed,
// net.ErrClosed after Close, or the fatal error.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Fail ends the stream with err (for example a failed resume) unless it has
// already ended. Pending and future calls return err.
func (s *Stream) Fail(err error) { s.finish(err) }

// Close ends the stream and its transport and waits for its goroutines.
// It does not send anything; see Flush for draining first. Idempotent.
func (s *Stream) Close() error {
	s.finish(net.ErrClosed)
	s.wg.Wait()
	return nil
}

func (s *Stream) finish(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	t := s.cur
	s.cur = nil
	close(s.done)
	s.notifyLocked()
	s.mu.Unlock()
	if t != nil {
		t.kill()
	}
	if !errors.Is(err, net.ErrClosed) {
		s.log.Debug("data channel stream ended", "err", err)
	}
}

// SetCipher turns payload encryption on (KMS sessions, ssm-protocol.md
// §8): from now on Send and Write seal the payload types this role
// encrypts, and Recv opens the ones the peer encrypts. A payload that fails
// to decrypt ends the stream with a *DecryptError (nothing of it is
// delivered). Call it before the first encrypted message in either
// direction; it cannot be turned off.
func (s *Stream) SetCipher(c *PayloadCipher) { s.cipher.Store(c) }

// Send queues p as one sequenced stream message of payload type pt and
// returns once it is queued for transmission (not when it is acknowledged).
// p is copied. It blocks while the window is full or publication is paused,
// until ctx is done (returning ctx.Err()) or the stream ends (returning the
// terminal error; net.ErrClosed after Close).
func (s *Stream) Send(ctx context.Context, pt wire.PayloadType, p []byte) error {
	err := s.send(pt, p, ctx.Done(), nil, true)
	if err == errCanceled {
		return ctx.Err()
	}
	return err
}

// Write sends p as consecutive messages of payload type pt, each at most
// MaxPayload bytes, and returns how many bytes were queued (all of p, or
// fewer with an error).
func (s *Stream) Write(ctx context.Context, pt wire.PayloadType, p []byte) (int, error) {
	n, err := s.write(pt, p, ctx.Done(), nil)
	if err == errCanceled {
		err = ctx.Err()
	}
	return n, err
}

func (s *Stream) write(pt wire.PayloadType, p []byte, cancel, cancel2 <-chan struct{}) (int, error) {
	n := 0
	for {
		c := min(len(p)-n, s.cfg.MaxPayload)
		// Wake the writer once for the whole burst (and whenever the window
		// blocks), not per message: it then writes the burst at once.
		last := n+c == len(p)
		if err := s.send(pt, p[n:n+c], cancel, cancel2, last); err != nil {
			if n > 0 {
				s.kick() // what was queued goes out now
			}
			return n, err
		}
		n += c
		if n == len(p) {
			return n, nil
		}
	}
}

// send queues one message; it wakes the writer if kick is set, and always
// before it blocks.
func (s *Stream) send(pt wire.PayloadType, p []byte, cancel, cancel2 <-chan struct{}, kick bool) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if c := s.cipher.Load(); c != nil {
		p = c.sealPayload(pt, p)
	}
	s.mu.Lock()
	for {
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return err
		}
		if !s.paused && (len(s.out) == 0 || (s.outBytes+len(p) <= s.cfg.Window && len(s.out) < s.cfg.MaxUnacked)) {
			break
		}
		ch := s.waitChLocked()
		t := s.cur
		s.mu.Unlock()
		if t != nil {
			t.kick() // earlier messages of this burst may be unsent
		}
		select {
		case <-ch:
		case <-cancel:
			return errCanceled
		case <-cancel2:
			return errCanceled
		}
		s.mu.Lock()
	}
	seq := s.nextSeq
	var buf []byte
	if n := len(s.spare); n > 0 && len(p)+wire.FrameOverhead <= frameBufSize {
		buf = s.spare[n-1][:0]
		s.spare[n-1] = nil
		s.spare = s.spare[:n-1]
	}
	s.mu.Unlock()

	// Only Send changes nextSeq and sendMu is held, so encode unlocked.
	m := wire.Message{
		MessageType:    s.sendType,
		SchemaVersion:  wire.SchemaVersion,
		CreatedDate:    uint64(s.cfg.Now().UnixMilli()),
		SequenceNumber: seq,
		MessageID:      s.ids.next(),
		PayloadType:    pt,
		Payload:        p,
	}
	if s.cfg.Role == RoleAgent && seq == 0 {
		m.Flags = wire.FlagSYN
	}
	if buf == nil {
		if n := m.EncodedLen(); n <= frameBufSize {
			buf = make([]byte, 0, frameBufSize) // reusable once acked
		} else {
			buf = s.fslab.alloc(n)
		}
	}
	frame, err := wire.AppendMessage(buf, &m)
	if err != nil {
		return fmt.Errorf("encode stream message %d: %w", seq, err)
	}

	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return err
	}
	s.appendOutLocked(outEntry{frame: frame, size: len(p)})
	s.outBytes += len(p)
	s.nextSeq++
	t := s.cur
	s.mu.Unlock()
	if t != nil && kick {
		t.kick()
	}
	return nil
}

// kick wakes the current transport's writer, if any.
func (s *Stream) kick() {
	s.mu.Lock()
	t := s.cur
	s.mu.Unlock()
	if t != nil {
		t.kick()
	}
}

// appendOutLocked appends e to s.out. Acknowledgements consume s.out from
// the front; when its capacity runs out the entries move to the front of
// the backing array (if it is at least twice as long) instead of growing
// into a new one: no allocation per window in steady streaming.
func (s *Stream) appendOutLocked(e outEntry) {
	if n := len(s.out); n == cap(s.out) {
		if cap(s.outBack) < max(2*n, 64) {
			s.outBack = make([]outEntry, max(2*n, 64))
		}
		s.outBack = s.outBack[:cap(s.outBack)]
		copy(s.outBack, s.out) // may overlap: copy moves correctly
		clear(s.outBack[n:])
		s.out = s.outBack[:n]
	}
	s.out = append(s.out, e)
}

// Flush waits until every sent message has been acknowledged, ctx is done
// or the stream ends.
func (s *Stream) Flush(ctx context.Context) error {
	s.mu.Lock()
	for len(s.out) > 0 {
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return err
		}
		ch := s.waitChLocked()
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
	return nil
}

// Recv returns the next stream message in sequence order. The payload is
// owned by the caller. After the stream ended it returns the messages still
// buffered, then io.EOF (channel_closed; see Err for the Output text) or the
// terminal error; after Close it returns net.ErrClosed at once.
func (s *Stream) Recv(ctx context.Context) (wire.PayloadType, []byte, error) {
	pt, p, err := s.recv(ctx.Done(), nil)
	if err == errCanceled {
		err = ctx.Err()
	}
	return pt, p, err
}

func (s *Stream) recv(cancel, cancel2 <-chan struct{}) (wire.PayloadType, []byte, error) {
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	s.mu.Lock()
	for {
		if s.err == net.ErrClosed {
			s.mu.Unlock()
			return 0, nil, net.ErrClosed
		}
		if s.decErr != nil {
			err := s.decErr
			s.mu.Unlock()
			return 0, nil, err
		}
		if len(s.inq) > 0 {
			m := s.inq[0]
			s.inq[0] = inMsg{}
			s.inq = s.inq[1:]
			s.inBytes -= len(m.p)
			var t *transport
			if m.ack != nil {
				s.queueAck(*m.ack)
				s.deferred--
				for i := range s.inq {
					if s.deferred == 0 {
						break
					}
					if s.inq[i].ack != nil {
						s.deferSeq = s.inq[i].ack.seq
						break
					}
				}
				t = s.cur
			}
			s.mu.Unlock()
			if t != nil {
				t.kick()
			}
			select {
			case s.space <- struct{}{}:
			default:
			}
			if c := s.cipher.Load(); c != nil {
				p, err := c.openPayload(m.pt, m.p)
				if err != nil {
					s.mu.Lock()
					s.decErr = err
					s.inq, s.inBytes = nil, 0
					s.mu.Unlock()
					s.finish(err)
					return 0, nil, err
				}
				m.p = p
			}
			return m.pt, m.p, nil
		}
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			if errors.Is(err, io.EOF) {
				return 0, nil, io.EOF
			}
			return 0, nil, err
		}
		ch := s.waitChLocked()
		s.mu.Unlock()
		select {
		case <-ch:
		case <-cancel:
			return 0, nil, errCanceled
		case <-cancel2:
			return 0, nil, errCanceled
		}
		s.mu.Lock()
	}
}

// Ready returns how many messages Recv would return now without blocking.
// A consumer that writes payloads on to a socket can buffer while Ready is
// positive and flush when it drops to zero: one write per burst.
func (s *Stream) Ready() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inq)
}

// StreamStats is a snapshot of a stream's reliability state.
type StreamStats struct {
	NextSeq      int64         // next outgoing sequence number
	Expected     int64         // next incoming sequence number
	Unacked      int           // outgoing messages not yet acknowledged
	UnackedBytes int           // their payload bytes
	Buffered     int           // payload bytes waiting for Recv
	Reordered    int           // out-of-order messages held
	RTT          time.Duration // smoothed round-trip time
	RTO          time.Duration // current retransmission timeout
	Resent       uint64        // retransmissions after an RTO expiry
	Paused       bool          // publication paused by the service
}

// Stats returns a snapshot of the stream's state.
func (s *Stream) Stats() StreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i := range s.out {
		if !s.out[i].acked {
			n++
		}
	}
	return StreamStats{
		NextSeq: s.nextSeq, Expected: s.expected, Unacked: n, UnackedBytes: s.outBytes,
		Buffered: s.inBytes, Reordered: len(s.reorder), RTT: time.Duration(s.rtt), RTO: s.rto,
		Resent: s.resent, Paused: s.paused,
	}
}

// transportLost detaches t after a read or write failure.
func (s *Stream) transportLost(t *transport, err error) {
	s.mu.Lock()
	if s.cur != t || s.err != nil {
		s.mu.Unlock()
		t.kill()
		return
	}
	s.cur = nil
	s.notifyLocked()
	s.mu.Unlock()
	t.kill()
	s.log.Debug("data channel transport lost", "err", err)
	if s.cfg.OnDetach != nil {
		go s.cfg.OnDetach(err)
	}
}

func (s *Stream) readLoop(t *transport) {
	defer s.wg.Done()
	var m wire.Message
	for {
		// Inbound cap: do not read while the application lags behind.
		for {
			s.mu.Lock()
			full := s.inBytes > s.cfg.RecvBuffer+s.cfg.RecvHold
			s.mu.Unlock()
			if !full {
				break
			}
			select {
			case <-s.space:
			case <-t.dead:
				return
			}
		}
		b, err := t.fc.ReadMessage()
		if err != nil {
			s.transportLost(t, err)
			return
		}
		if err := wire.Decode(b, &m); err != nil {
			s.finish(&ProtocolError{Op: "decode frame", Err: err})
			return
		}
		s.rxFrames.Add(1)
		if !s.handle(t, &m) {
			return
		}
	}
}

// handle processes one received frame; it returns false when the reader
// must stop.
func (s *Stream) handle(t *transport, m *wire.Message) bool {
	switch m.MessageType {
	case wire.TypeAcknowledge:
		seq, err := wire.AckSequenceNumber(m.Payload)
		if err != nil {
			s.log.Debug("ignoring malformed acknowledge", "err", err)
			return true
		}
		s.mu.Lock()
		if s.cur != t {
			s.mu.Unlock()
			return false
		}
		s.onAckLocked(seq)
		if s.paused { // the peer is evidently active (see below)
			s.resumeLocked()
		}
		s.mu.Unlock()
		t.kick()
	case s.recvType:
		s.mu.Lock()
		if s.cur != t {
			s.mu.Unlock()
			return false
		}
		s.onDataLocked(m)
		// Traffic from the peer proves its side is active: lift a pause.
		// The agent does this per §6.5; the client does too, so that a
		// stale pause_publication (one overtaken by start_publication in
		// the service) cannot block Send forever.
		if s.paused {
			s.resumeLocked()
		}
		s.mu.Unlock()
		t.kick()
	case wire.TypeChannelClosed:
		cc := &ChannelClosedError{}
		var p wire.ChannelClosed
		if err := jsonUnmarshal(m.Payload, &p); err == nil {
			cc.SessionID, cc.Output = p.SessionID, p.Output
		}
		s.finish(cc)
		return false
	case wire.TypePausePublication:
		s.mu.Lock()
		s.paused = true
		s.pausedAt = s.cfg.Now()
		s.notifyLocked()
		s.mu.Unlock()
	case wire.TypeStartPublication:
		s.mu.Lock()
		s.resumeLocked()
		s.mu.Unlock()
		t.kick()
	default:
		s.log.Debug("ignoring data channel message", "type", m.MessageType)
	}
	return true
}

// resumeLocked lifts a pause and schedules every unacknowledged message
// for immediate retransmission, in order: what was sent before or during
// the pause (while the service had no peer to deliver it to) may have been
// dropped, and waiting for the RTO would stall the session for at least
// 200 ms (for example the agent's HandshakeRequest sent before the client
// attached). The receiver discards duplicates and re-acks them.
func (s *Stream) resumeLocked() {
	s.paused = false
	s.sendFrom = s.base
	s.notifyLocked()
}

func (s *Stream) onAckLocked(seq int64) {
	i := seq - s.base
	if i < 0 || i >= int64(len(s.out)) {
		return
	}
	e := &s.out[i]
	if e.acked {
		return
	}
	e.acked = true
	s.outBytes -= e.size
	if !e.lastSent.IsZero() {
		// §6.2: RTTV uses the old RTT.
		r := float64(s.cfg.Now().Sub(e.lastSent))
		d := s.rtt - r
		if d < 0 {
			d = -d
		}
		s.rttv = 0.75*s.rttv + 0.25*d
		s.rtt = 0.875*s.rtt + 0.125*r
		rto := time.Duration(s.rtt + max(float64(clockGranularity), 4*s.rttv))
		s.rto = min(rto, maxRTO)
	}
	for len(s.out) > 0 && s.out[0].acked {
		s.recycleLocked(s.out[0].frame)
		s.out[0] = outEntry{}
		s.out = s.out[1:]
		s.base++
	}
	if len(s.out) == 0 {
		s.out = s.outBack[:0]
	}
	if s.sendFrom < s.base {
		s.sendFrom = s.base
	}
	s.notifyLocked()
}

// Frame buffer reuse: a frame of a payload up to frameBufSize -
// wire.FrameOverhead bytes (the default MaxPayload of 1024 included) is
// encoded into a frameBufSize buffer that is recycled once the message is
// acknowledged. 1152 is a Go size class: no memory is wasted.
const (
	frameBufSize   = 1152
	maxSpareFrames = 1024
)

// recycleLocked makes an acknowledged message's frame buffer reusable.
func (s *Stream) recycleLocked(f []byte) {
	if cap(f) != frameBufSize {
		return
	}
	if s.writing > 0 {
		if len(s.retired) < maxSpareFrames {
			s.retired = append(s.retired, f)
		}
		return
	}
	if len(s.spare) < maxSpareFrames {
		s.spare = append(s.spare, f)
	}
}

// doneWritingLocked ends a writer's use of the frames it collected.
func (s *Stream) doneWritingLocked() {
	s.writing--
	if s.writing > 0 {
		return
	}
	for i, f := range s.retired {
		if len(s.spare) < maxSpareFrames {
			s.spare = append(s.spare, f)
		}
		s.retired[i] = nil
	}
	s.retired = s.retired[:0]
}

func (s *Stream) queueAckLocked(m *wire.Message) {
	s.queueAck(ackReq{typ: m.MessageType, id: m.MessageID, seq: m.SequenceNumber})
}

func (s *Stream) queueAck(a ackReq) {
	if len(s.acks) < maxQueuedAcks {
		s.acks = append(s.acks, a)
	}
}

func (s *Stream) onDataLocked(m *wire.Message) {
	seq := m.SequenceNumber
	switch {
	case seq == s.expected:
		in := inMsg{pt: m.PayloadType, p: m.Payload}
		if s.inBytes >= s.cfg.RecvBuffer {
			// Over the acked budget: store, ack when Recv takes it.
			in.ack = &ackReq{typ: m.MessageType, id: m.MessageID, seq: seq}
			if s.deferred == 0 {
				s.deferSeq = seq
			}
			s.deferred++
		} else {
			s.queueAckLocked(m)
		}
		s.deliverLocked(in)
		s.expected++
		for {
			r, ok := s.reorder[s.expected]
			if !ok {
				break
			}
			delete(s.reorder, s.expected)
			s.deliverLocked(r) // acked when it was stored
			s.expected++
		}
		s.notifyLocked()
	case seq > s.expected:
		if _, ok := s.reorder[seq]; !ok {
			if len(s.reorder) >= s.cfg.ReorderCap || s.inBytes >= s.cfg.RecvBuffer {
				return // not stored, not acked: the peer resends it
			}
			s.reorder[seq] = inMsg{pt: m.PayloadType, p: m.Payload}
		}
		s.queueAckLocked(m)
	default:
		// Duplicate: re-ack (the ack may have been lost), unless its ack
		// is deliberately deferred.
		if s.deferred == 0 || seq < s.deferSeq {
			s.queueAckLocked(m)
		}
	}
}

// deliverLocked queues a payload for Recv. p aliases a frame the transport
// handed over (FrameConn contract), so no copy is needed.
func (s *Stream) deliverLocked(m inMsg) {
	if n := len(s.inq); n == cap(s.inq) {
		// Recv consumes inq from the front: move the entries to the front
		// of the backing array rather than growing into a new one.
		if cap(s.inqBack) < max(2*n, 64) {
			s.inqBack = make([]inMsg, max(2*n, 64))
		}
		s.inqBack = s.inqBack[:cap(s.inqBack)]
		copy(s.inqBack, s.inq)
		clear(s.inqBack[n:])
		s.inq = s.inqBack[:n]
	}
	s.inq = append(s.inq, m)
	s.inBytes += len(m.p)
}

func (s *Stream) writeLoop(t *transport) {
	defer s.wg.Done()
	tick := time.NewTicker(resendTick)
	defer tick.Stop()
	var (
		acks    []ackReq
		frames  [][]byte
		ackBuf  []byte
		ackBody []byte
		ids     = newIDGen()
	)
	for {
		select {
		case <-t.dead:
			return
		case <-t.wake:
		case <-tick.C:
		}
		for {
			s.mu.Lock()
			if s.cur != t {
				s.mu.Unlock()
				return
			}
			acks, s.acks = s.acks, acks[:0]
			frames = frames[:0]
			now := s.cfg.Now()
			var fatal error
			if s.paused && now.Sub(s.pausedAt) > s.cfg.PauseTimeout {
				// The plugin ignores pauses entirely; we honour them but
				// not forever, so a stale pause cannot wedge the session.
				s.log.Debug("pause_publication not lifted in time, resuming", "after", s.cfg.PauseTimeout)
				s.paused = false
				s.notifyLocked()
			}
			if !s.paused {
				// New (or, after Attach, not yet re-sent) messages in order.
				for s.sendFrom < s.nextSeq && len(frames) < 64 {
					e := &s.out[s.sendFrom-s.base]
					s.sendFrom++
					if e.acked {
						continue
					}
					e.lastSent = now
					if e.firstSent.IsZero() {
						e.firstSent = now
					}
					frames = append(frames, e.frame)
				}
				// Retransmit the oldest unacked message after its RTO.
				if len(s.out) > 0 && s.base < s.sendFrom && !s.out[0].firstSent.Equal(now) {
					e := &s.out[0]
					if now.Sub(e.lastSent) > s.rto {
						if now.Sub(e.firstSent) > s.cfg.ResendTimeout {
							fatal = &ResendTimeoutError{SequenceNumber: s.base, Waited: now.Sub(e.firstSent)}
						} else {
							e.lastSent = now
							s.resent++
							frames = append(frames, e.frame)
						}
					}
				}
			}
			if len(frames) > 0 {
				s.writing++
			}
			s.mu.Unlock()
			if fatal != nil {
				if len(frames) > 0 {
					s.mu.Lock()
					s.doneWritingLocked()
					s.mu.Unlock()
				}
				s.finish(fatal)
				return
			}
			if len(acks) == 0 && len(frames) == 0 {
				break
			}
			err := s.writeBurst(t, acks, frames, &ackBuf, &ackBody, ids, now)
			if len(frames) > 0 {
				s.mu.Lock()
				s.doneWritingLocked()
				s.mu.Unlock()
				clear(frames) // keep no reference to reusable buffers
			}
			if err != nil {
				s.transportLost(t, err)
				return
			}
		}
	}
}

// writeBurst writes acks (encoded into the reused ackBuf) then frames on t,
// as one batch when the transport supports it.
func (s *Stream) writeBurst(t *transport, acks []ackReq, frames [][]byte, ackBuf, ackBody *[]byte, ids idGen, now time.Time) error {
	bt, batched := t.fc.(batcher)
	batched = batched && len(acks)+len(frames) > 1
	if batched {
		bt.StartBatch()
	}
	for _, a := range acks {
		*ackBody = wire.AppendAcknowledge((*ackBody)[:0], a.typ, a.id, a.seq)
		m := wire.Message{
			MessageType:   wire.TypeAcknowledge,
			SchemaVersion: wire.SchemaVersion,
			CreatedDate:   uint64(now.UnixMilli()),
			Flags:         wire.FlagsAck,
			MessageID:     ids.next(),
			Payload:       *ackBody,
		}
		*ackBuf, _ = wire.AppendMessage((*ackBuf)[:0], &m)
		if err := t.fc.WriteMessage(*ackBuf); err != nil {
			return err
		}
	}
	for _, f := range frames {
		if err := t.fc.WriteMessage(f); err != nil {
			return err
		}
	}
	if batched {
		return bt.EndBatch()
	}
	return nil
}
