package ui

import (
	"context"
	"fmt"
	"sync"

	tea "charm.land/bubbletea/v2"

	"github.com/ssmtui/ssmtui/inventory"
)

// connectEvent is one thing a connect attempt reports to the UI. Exactly one
// of the fields is set, except for the final event, where done is true and
// sess or err tell the outcome.
type connectEvent struct {
	progress   string
	hostKey    *hostKeyRequest
	passphrase *passphraseRequest
	done       bool
	sess       Session
	err        error
}

// hostKeyRequest is a TOFU question waiting for the user; reply has room for
// one answer so Update never blocks.
type hostKeyRequest struct {
	key   HostKey
	reply chan bool
}

// passphraseRequest asks for a key passphrase; reply has room for one answer.
type passphraseRequest struct {
	prompt string
	reply  chan passphraseReply
}

type passphraseReply struct {
	secret []byte
	err    error
}

// eventSink is the sending side of one connect attempt's event channel. It
// stops delivering once closed, so a Connector that (wrongly) reports after
// Connect returned cannot panic the program.
type eventSink struct {
	ctx    context.Context
	ch     chan connectEvent
	mu     sync.Mutex
	closed bool
}

// send delivers ev unless the attempt is cancelled or finished.
func (s *eventSink) send(ev connectEvent) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	select {
	case s.ch <- ev:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// finish delivers the outcome if anyone still listens, then closes the
// channel so a waiting command ends. If the attempt was abandoned, an
// established session is closed here rather than leaked.
func (s *eventSink) finish(sess Session, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delivered := false
	select {
	case s.ch <- connectEvent{done: true, sess: sess, err: err}:
		delivered = true
	case <-s.ctx.Done():
	}
	if !delivered && sess != nil {
		_ = sess.Close()
	}
	s.closed = true
	close(s.ch)
}

// prompter implements Prompter by sending requests to the UI and waiting for
// the answer the user gives in a modal.
type prompter struct{ sink *eventSink }

// ConfirmHostKey implements Prompter.
func (p prompter) ConfirmHostKey(ctx context.Context, key HostKey) (bool, error) {
	req := &hostKeyRequest{key: key, reply: make(chan bool, 1)}
	if !p.sink.send(connectEvent{hostKey: req}) {
		return false, fmt.Errorf("ask about host key of %s: %w", key.InstanceID, context.Cause(p.sink.ctx))
	}
	select {
	case ok := <-req.reply:
		return ok, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-p.sink.ctx.Done():
		return false, p.sink.ctx.Err()
	}
}

// Passphrase implements Prompter.
func (p prompter) Passphrase(ctx context.Context, prompt string) ([]byte, error) {
	req := &passphraseRequest{prompt: prompt, reply: make(chan passphraseReply, 1)}
	if !p.sink.send(connectEvent{passphrase: req}) {
		return nil, fmt.Errorf("ask for passphrase: %w", context.Cause(p.sink.ctx))
	}
	select {
	case r := <-req.reply:
		return r.secret, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.sink.ctx.Done():
		return nil, p.sink.ctx.Err()
	}
}

// startConnect runs c.Connect in its own goroutine, which ends when Connect
// returns; the returned command waits for the attempt's first event.
func startConnect(ctx context.Context, c Connector, inst inventory.Instance, mode Mode, attempt int) tea.Cmd {
	ch := make(chan connectEvent, 8)
	sink := &eventSink{ctx: ctx, ch: ch}
	return func() tea.Msg {
		go func() {
			sess, err := c.Connect(ctx, inst, mode, prompter{sink: sink}, func(s string) {
				sink.send(connectEvent{progress: s})
			})
			sink.finish(sess, err)
		}()
		return waitConnect(ch, attempt)()
	}
}

// waitConnect waits for the next event of a connect attempt. A closed
// channel yields no message.
func waitConnect(ch <-chan connectEvent, attempt int) tea.Cmd {
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return nil
		}
		return connectEventMsg{attempt: attempt, ev: ev, ch: ch}
	}
}

// closeSession closes a finished or abandoned session off the event loop.
func closeSession(s Session) tea.Cmd {
	return func() tea.Msg { return sessionClosedMsg{err: s.Close()} }
}

// startScan runs src.Scan in its own goroutine, which ends when Scan
// returns (ctx cancelled on refresh or quit); the returned command waits for
// the first result.
func startScan(ctx context.Context, src Source, gen int) tea.Cmd {
	ch := make(chan inventory.Result, 64)
	return func() tea.Msg {
		go func() {
			defer close(ch)
			src.Scan(ctx, func(r inventory.Result) {
				select {
				case ch <- r:
				case <-ctx.Done():
				}
			})
		}()
		return waitScan(ch, gen)()
	}
}

// waitScan waits for the next result of scan generation gen.
func waitScan(ch <-chan inventory.Result, gen int) tea.Cmd {
	return func() tea.Msg {
		r, ok := <-ch
		if !ok {
			return scanDoneMsg{gen: gen}
		}
		return regionLoadedMsg{gen: gen, result: r, ch: ch}
	}
}
