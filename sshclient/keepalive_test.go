package sshclient

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeRequester answers keepalives according to mode.
type fakeRequester struct {
	mode    string // "answer", "fail-reply", "silent", "broken"
	sent    atomic.Int32
	closed  chan struct{}
	closeMu sync.Once
}

func newFakeRequester(mode string) *fakeRequester {
	return &fakeRequester{mode: mode, closed: make(chan struct{})}
}

func (f *fakeRequester) SendRequest(name string, wantReply bool, _ []byte) (bool, []byte, error) {
	f.sent.Add(1)
	switch f.mode {
	case "answer":
		return true, nil, nil
	case "fail-reply":
		return false, nil, nil
	case "broken":
		return false, nil, errors.New("ssh: disconnect")
	}
	<-f.closed // silent: like x/crypto, only Close ends the wait
	return false, nil, errors.New("closed")
}

func (f *fakeRequester) Close() error {
	f.closeMu.Do(func() { close(f.closed) })
	return nil
}

func (f *fakeRequester) isClosed() bool {
	select {
	case <-f.closed:
		return true
	default:
		return false
	}
}

func TestKeepAlive(t *testing.T) {
	const every = 5 * time.Millisecond
	t.Run("silent server is closed", func(t *testing.T) {
		f := newFakeRequester("silent")
		err := keepAlive(testContext(t), f, every, 3)
		if !errors.Is(err, ErrKeepAliveTimeout) || !f.isClosed() {
			t.Fatalf("keepAlive = %v closed=%v, want ErrKeepAliveTimeout and closed", err, f.isClosed())
		}
		if n := f.sent.Load(); n != 1 {
			t.Fatalf("sent %d requests, want 1 (one in flight at a time)", n)
		}
	})
	for _, mode := range []string{"answer", "fail-reply"} {
		t.Run(mode+" keeps the session", func(t *testing.T) {
			f := newFakeRequester(mode)
			ctx, cancel := context.WithCancel(testContext(t))
			done := make(chan error, 1)
			go func() { done <- keepAlive(ctx, f, every, 3) }()
			for f.sent.Load() < 10 { // ten answered rounds: more than max
				time.Sleep(every)
			}
			cancel()
			if err := <-done; err != nil || f.isClosed() {
				t.Fatalf("keepAlive = %v closed=%v, want nil and open", err, f.isClosed())
			}
		})
	}
	t.Run("broken transport returns quietly", func(t *testing.T) {
		f := newFakeRequester("broken")
		if err := keepAlive(testContext(t), f, every, 3); err != nil || f.isClosed() {
			t.Fatalf("keepAlive = %v closed=%v; Wait reports a broken transport", err, f.isClosed())
		}
	})
	t.Run("disabled", func(t *testing.T) {
		f := newFakeRequester("silent")
		if err := keepAlive(testContext(t), f, 0, 3); err != nil || f.sent.Load() != 0 {
			t.Fatalf("keepAlive with interval 0 = %v, sent %d", err, f.sent.Load())
		}
	})
}
