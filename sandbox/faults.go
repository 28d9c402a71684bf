package sandbox

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ssmtui/ssmtui/session/wire"
)

// FaultOptions are the relay's fault knobs. Fractions are in [0, 1).
// Decisions are drawn from a PRNG seeded with Seed, the session's creation
// order and the direction, so a given sequence of frames meets the same
// faults on every run.
type FaultOptions struct {
	Seed int64

	// LatencyToAgent and LatencyToClient delay every frame in that direction
	// by a fixed one-way latency, preserving order.
	LatencyToAgent  time.Duration
	LatencyToClient time.Duration

	// Drop discards this fraction of stream-data frames before delivery, as
	// a reconnect would lose them (the sender must retransmit).
	Drop float64
	// Duplicate delivers this fraction of stream-data frames twice.
	Duplicate float64
	// Reorder holds this fraction of stream-data frames back until
	// ReorderWindow later frames have passed (default 3), or 30 ms.
	Reorder       float64
	ReorderWindow int
	// WithholdAcks discards this fraction of acknowledge frames.
	WithholdAcks float64

	// KillClientEvery drops each client websocket this long after it was
	// opened (so every resumed connection dies again); the client must
	// ResumeSession and reconnect.
	KillClientEvery time.Duration
}

// Validate reports the first out-of-range knob.
func (o FaultOptions) Validate() error {
	for name, f := range map[string]float64{"drop": o.Drop, "duplicate": o.Duplicate, "reorder": o.Reorder, "withhold-acks": o.WithholdAcks} {
		if f < 0 || f >= 1 {
			return fmt.Errorf("sandbox: fault %s fraction %v: want 0 <= f < 1", name, f)
		}
	}
	if o.LatencyToAgent < 0 || o.LatencyToClient < 0 || o.KillClientEvery < 0 || o.ReorderWindow < 0 {
		return fmt.Errorf("sandbox: fault latencies, kill period and reorder window must not be negative")
	}
	return nil
}

func (o FaultOptions) active() bool {
	return o.Drop > 0 || o.Duplicate > 0 || o.Reorder > 0 || o.WithholdAcks > 0
}

type direction int

const (
	dirToAgent direction = iota
	dirToClient
)

func (d direction) String() string {
	if d == dirToAgent {
		return "to-agent"
	}
	return "to-client"
}

// pipeItem is a frame (or a control action) moving through a faultPipe.
type pipeItem struct {
	frame  []byte
	at     time.Time // delivery time (latency)
	then   func()    // run after delivery
	pooled bool      // frame came from getBuf: recycle it once written
}

type heldFrame struct {
	frame    []byte
	left     int // frames still to pass before release
	deadline time.Time
}

// faultPipe carries the frames of one direction of one session: a stage
// goroutine applies drop/duplicate/reorder/withhold decisions in arrival
// order, a delivery goroutine applies the latency and writes to whichever
// peer is current at delivery time (dropping the frame if none is).
type faultPipe struct {
	s       *gwSession
	dir     direction
	opts    FaultOptions
	latency time.Duration
	rng     *rand.Rand

	direct   bool        // no drop/duplicate/reorder/withhold: push skips the stage
	free     chan []byte // recycled frame buffers (direct pipes only)
	in       chan pipeItem
	out      chan pipeItem
	stopOnce sync.Once
	stopped  chan struct{}
	held     []heldFrame
}

func newFaultPipe(g *gateway, s *gwSession, dir direction) *faultPipe {
	p := newPipeCore(g.opts.Faults, s.seq, dir)
	p.s = s
	g.goTracked(p.stage)
	g.goTracked(p.deliver)
	return p
}

// newPipeCore builds the pipe's decision state without goroutines or a
// session (tests drive handle directly).
func newPipeCore(o FaultOptions, seq int, dir direction) *faultPipe {
	if o.ReorderWindow == 0 {
		o.ReorderWindow = 3
	}
	p := &faultPipe{
		direct:  !o.active(),
		free:    make(chan []byte, freeBufs),
		dir:     dir,
		opts:    o,
		rng:     rand.New(rand.NewPCG(uint64(o.Seed), uint64(seq)<<1|uint64(dir))),
		in:      make(chan pipeItem, 64),
		out:     make(chan pipeItem, 4096),
		stopped: make(chan struct{}),
	}
	if dir == dirToAgent {
		p.latency = o.LatencyToAgent
	} else {
		p.latency = o.LatencyToClient
	}
	return p
}

// Frame buffers of a direct pipe are recycled: such a pipe writes each
// frame exactly once and gorilla copies it, so once written its buffer can
// take the next frame read from the source (no allocation per frame).
const (
	frameBufSize = 1152 // a Go size class; holds a 1024-byte payload frame (1144 bytes); larger ones grow
	freeBufs     = 1024
)

// recycling reports whether getBuf buffers are recycled (sent with
// pushPooled); otherwise frames may be held or duplicated and must stay
// untouched, and the reader allocates.
func (p *faultPipe) recycling() bool { return p.direct }

// getBuf returns an empty buffer for the next frame read from the source.
func (p *faultPipe) getBuf() []byte {
	select {
	case b := <-p.free:
		return b
	default:
		return make([]byte, 0, frameBufSize)
	}
}

// putBuf returns a written frame's buffer to the free list.
func (p *faultPipe) putBuf(b []byte) {
	if cap(b) != frameBufSize {
		return
	}
	select {
	case p.free <- b[:0]:
	default:
	}
}

// pushPooled queues a frame in a getBuf buffer (recycling pipes only).
func (p *faultPipe) pushPooled(frame []byte) {
	it := pipeItem{frame: frame, pooled: true}
	if p.latency > 0 {
		it.at = time.Now().Add(p.latency)
	}
	select {
	case p.out <- it:
	case <-p.stopped:
	}
}

// push queues a frame read from the source side. It blocks (backpressure on
// the source socket) while the pipe is full, and drops the frame once the
// pipe has stopped.
func (p *faultPipe) push(frame []byte) {
	if p.direct {
		p.emit(frame, nil)
		return
	}
	select {
	case p.in <- pipeItem{frame: frame}:
	case <-p.stopped:
	}
}

// pushControl queues a frame that is never faulted, followed by then.
func (p *faultPipe) pushControl(frame []byte, then func()) {
	if p.direct {
		p.emit(frame, then) // nothing is ever held back
		return
	}
	select {
	case p.in <- pipeItem{frame: frame, then: then}:
	case <-p.stopped:
		then()
	}
}

func (p *faultPipe) stop() { p.stopOnce.Do(func() { close(p.stopped) }) }

func (p *faultPipe) stage() {
	var timer *time.Timer
	for {
		var timerC <-chan time.Time
		if len(p.held) > 0 {
			d := time.Until(p.held[0].deadline)
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			timerC = timer.C
		}
		select {
		case it := <-p.in:
			p.handle(it)
		case <-timerC:
			p.releaseExpired()
		case <-p.stopped:
			if timer != nil {
				timer.Stop()
			}
			return
		}
	}
}

func (p *faultPipe) handle(it pipeItem) {
	if it.then != nil {
		// Control: everything held goes out first, in order.
		for _, h := range p.held {
			p.emit(h.frame, nil)
		}
		p.held = p.held[:0]
		p.emit(it.frame, it.then)
		return
	}
	if !p.opts.active() {
		p.emit(it.frame, nil)
		return
	}
	switch frameType(it.frame) {
	case wire.TypeInputStreamData, wire.TypeOutputStreamData:
		// One draw per knob per frame keeps decisions a pure function of the
		// frame order.
		drop := p.rng.Float64() < p.opts.Drop
		dup := p.rng.Float64() < p.opts.Duplicate
		hold := p.rng.Float64() < p.opts.Reorder
		switch {
		case drop:
		case hold:
			p.held = append(p.held, heldFrame{frame: it.frame, left: p.opts.ReorderWindow, deadline: time.Now().Add(30 * time.Millisecond)})
			return // held frames do not count as passing
		default:
			p.emit(it.frame, nil)
			if dup {
				p.emit(it.frame, nil)
			}
		}
	case wire.TypeAcknowledge:
		if p.rng.Float64() >= p.opts.WithholdAcks {
			p.emit(it.frame, nil)
		}
	default:
		p.emit(it.frame, nil)
	}
	p.countHeld()
}

// frameType returns a frame's MessageType (bytes 4..36, space or NUL
// padded; §3.1) without decoding the frame or checking its digest: the
// relay forwards frames untouched and the receiver verifies them.
func frameType(frame []byte) string {
	const off, n = 4, 32
	if len(frame) < off+n {
		return ""
	}
	t := frame[off : off+n]
	end := len(t)
	for end > 0 && (t[end-1] == ' ' || t[end-1] == 0) {
		end--
	}
	switch string(t[:end]) { // no allocation: compared, not kept
	case wire.TypeInputStreamData:
		return wire.TypeInputStreamData
	case wire.TypeOutputStreamData:
		return wire.TypeOutputStreamData
	case wire.TypeAcknowledge:
		return wire.TypeAcknowledge
	}
	return ""
}

// countHeld releases held frames whose window of later frames has passed.
func (p *faultPipe) countHeld() {
	kept := p.held[:0]
	for _, h := range p.held {
		h.left--
		if h.left <= 0 {
			p.emit(h.frame, nil)
			continue
		}
		kept = append(kept, h)
	}
	p.held = kept
}

func (p *faultPipe) releaseExpired() {
	now := time.Now()
	kept := p.held[:0]
	for _, h := range p.held {
		if !h.deadline.After(now) {
			p.emit(h.frame, nil)
			continue
		}
		kept = append(kept, h)
	}
	p.held = kept
}

func (p *faultPipe) emit(frame []byte, then func()) {
	it := pipeItem{frame: frame, then: then}
	if p.latency > 0 {
		it.at = time.Now().Add(p.latency)
	}
	select {
	case p.out <- it:
	case <-p.stopped:
		if then != nil {
			then()
		}
	}
}

// maxBurst bounds how many frames deliver writes with one socket write.
const maxBurst = 256

// deliver writes frames to the current peer of its direction once their
// latency has passed. Frames already due when one is written are written
// with it as one burst (one socket write), in order.
func (p *faultPipe) deliver() {
	var (
		timer   *time.Timer
		next    pipeItem // taken from out but not yet due (if have)
		have    bool
		burst   [][]byte
		recycle [][]byte // pooled frames of burst, reused once written
		thens   []func()
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var it pipeItem
		if have {
			it, next, have = next, pipeItem{}, false
		} else {
			select {
			case it = <-p.out:
			case <-p.stopped:
				return
			}
		}
		if d := time.Until(it.at); !it.at.IsZero() && d > 0 {
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			select {
			case <-timer.C:
			case <-p.stopped:
				if it.then != nil {
					it.then()
				}
				return
			}
		}
		burst = append(burst[:0], it.frame)
		thens = thens[:0]
		if it.then != nil {
			thens = append(thens, it.then)
		}
		recycle = recycle[:0]
		if it.pooled {
			recycle = append(recycle, it.frame)
		}
		// Gather what is queued and due, stopping after a control item
		// (its action, such as closing the sockets, must follow the write).
		var now time.Time
		for len(thens) == 0 && len(burst) < maxBurst {
			var more pipeItem
			got := false
			select {
			case more, got = <-p.out:
			default:
			}
			if !got {
				break
			}
			if !more.at.IsZero() {
				if now.IsZero() {
					now = time.Now()
				}
				if more.at.After(now) {
					next, have = more, true
					break
				}
			}
			burst = append(burst, more.frame)
			if more.then != nil {
				thens = append(thens, more.then)
			}
			if more.pooled {
				recycle = append(recycle, more.frame)
			}
		}
		p.s.mu.Lock()
		dst := p.s.client
		if p.dir == dirToAgent {
			dst = p.s.agent
		}
		p.s.mu.Unlock()
		if dst != nil {
			_ = dst.writeBurst(burst)
		}
		clear(burst)
		for _, b := range recycle {
			p.putBuf(b)
		}
		clear(recycle)
		for _, f := range thens {
			f()
		}
	}
}
