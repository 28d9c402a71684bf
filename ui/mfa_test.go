package ui

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

type codeResult struct {
	code string
	err  error
}

// askMFA calls mfa.Code for profile in a goroutine and delivers the
// request message the picker would get.
func askMFA(t *testing.T, ctx context.Context, mfa *MFA, profile string) (mfaRequestMsg, <-chan codeResult) {
	t.Helper()
	res := make(chan codeResult, 1)
	go func() {
		c, err := mfa.Code(ctx, profile)
		res <- codeResult{c, err}
	}()
	msg, ok := mfa.wait()().(mfaRequestMsg)
	if !ok {
		t.Fatal("no MFA request reached the picker")
	}
	return msg, res
}

func waitCode(t *testing.T, res <-chan codeResult) codeResult {
	t.Helper()
	select {
	case r := <-res:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("MFA.Code did not return")
		return codeResult{}
	}
}

func mfaModel(t *testing.T) (Model, *MFA) {
	t.Helper()
	mfa := NewMFA()
	t.Cleanup(mfa.Close)
	m := loaded(t, 100, 30)
	m.mfa = mfa
	return m, mfa
}

func TestMFAModalSubmitsSixDigits(t *testing.T) {
	m, mfa := mfaModel(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, res := askMFA(t, ctx, mfa, "dev-admin")
	m, _ = update(t, m, req)
	v := view(m)
	for _, want := range []string{"MFA code needed", "dev-admin", "mfa_serial", "enter", "submit", "esc"} {
		if !strings.Contains(v, want) {
			t.Errorf("modal lacks %q:\n%s", want, v)
		}
	}
	// Picker keys do nothing while the modal is up: q does not quit, / does
	// not filter, letters are not typed.
	for _, r := range "q/x1a2" {
		m, _ = update(t, m, keyOf(r))
	}
	if m.quitting || m.filtering || m.mfaInput.Value() != "12" {
		t.Fatalf("quitting=%v filtering=%v input=%q", m.quitting, m.filtering, m.mfaInput.Value())
	}
	// An incomplete code is not sent.
	m, cmd := update(t, m, enterKey)
	if cmd != nil || m.mfaReq == nil || !strings.Contains(view(m), "the code has 6 digits") {
		t.Fatalf("short code submitted:\n%s", view(m))
	}
	m, _ = update(t, m, tea.PasteMsg{Content: "34-5"})
	for _, r := range "67" { // 7 is past the limit
		m, _ = update(t, m, keyOf(r))
	}
	if v := view(m); !strings.Contains(v, "123456") || strings.Contains(v, "the code has") {
		t.Errorf("the code is shown as typed and the hint is gone:\n%s", v)
	}
	m, cmd = update(t, m, enterKey)
	if m.mfaReq != nil || cmd == nil || strings.Contains(view(m), "MFA code needed") {
		t.Fatalf("modal still up after submit:\n%s", view(m))
	}
	if r := waitCode(t, res); r.err != nil || r.code != "123456" {
		t.Fatalf("Code = %q, %v", r.code, r.err)
	}
	// The returned command waits for the next request.
	_, res2 := askMFAWith(t, ctx, mfa, "second", cmd)
	mfa.Close()
	if r := waitCode(t, res2); !errors.Is(r.err, ErrMFAClosed) {
		t.Fatalf("after Close: %v", r.err)
	}
}

// askMFAWith is askMFA with the picker's own re-armed wait command.
func askMFAWith(t *testing.T, ctx context.Context, mfa *MFA, profile string, wait tea.Cmd) (mfaRequestMsg, <-chan codeResult) {
	t.Helper()
	res := make(chan codeResult, 1)
	go func() {
		c, err := mfa.Code(ctx, profile)
		res <- codeResult{c, err}
	}()
	msg, ok := wait().(mfaRequestMsg)
	if !ok || msg.req.profile != profile {
		t.Fatalf("wait command delivered %#v", msg)
	}
	return msg, res
}

func TestMFAModalEscCancels(t *testing.T) {
	m, mfa := mfaModel(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, res := askMFA(t, ctx, mfa, "dev-admin")
	m, _ = update(t, m, req)
	m, _ = update(t, m, keyOf('1'))
	m, _ = update(t, m, escKey)
	if m.mfaReq != nil || m.screen != screenPicker {
		t.Fatalf("modal still up after esc")
	}
	if r := waitCode(t, res); !errors.Is(r.err, ErrPromptCancelled) || !strings.Contains(r.err.Error(), "dev-admin") {
		t.Fatalf("Code after esc: %v", r.err)
	}
}

func TestMFAQuitEndsWaitingCode(t *testing.T) {
	m, mfa := mfaModel(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, res := askMFA(t, ctx, mfa, "dev-admin")
	m, _ = update(t, m, req)
	m, cmd := update(t, m, tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl})
	if !m.quitting || cmd == nil {
		t.Fatal("ctrl+c did not quit from the MFA modal")
	}
	if r := waitCode(t, res); !errors.Is(r.err, ErrMFAClosed) {
		t.Fatalf("Code after quit: %v", r.err)
	}
	// Later requests fail at once.
	if _, err := mfa.Code(ctx, "other"); !errors.Is(err, ErrMFAClosed) {
		t.Fatalf("Code after quit: %v", err)
	}
}

func TestMFACodeHonoursContext(t *testing.T) {
	mfa := NewMFA()
	defer mfa.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := mfa.Code(ctx, "p"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Code with a cancelled context: %v", err)
	}
}

// TestMFAModalOverConnecting: a request that arrives while connecting
// shows over the connect screen, which is back once it is answered.
func TestMFAModalOverConnecting(t *testing.T) {
	m, mfa := mfaModel(t)
	m.connector = &fakeConnector{err: errors.New("boom")}
	m = selectName(t, m, "web-1")
	m, _ = update(t, m, enterKey)
	if m.screen != screenConnecting {
		t.Fatalf("screen %v", m.screen)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, res := askMFA(t, ctx, mfa, "prod")
	m, _ = update(t, m, req)
	if !strings.Contains(view(m), "MFA code needed") {
		t.Fatalf("no MFA modal over the connect screen:\n%s", view(m))
	}
	for _, r := range "654321" {
		m, _ = update(t, m, keyOf(r))
	}
	m, _ = update(t, m, enterKey)
	if r := waitCode(t, res); r.code != "654321" {
		t.Fatalf("Code = %q, %v", r.code, r.err)
	}
	if m.screen != screenConnecting || !strings.Contains(view(m), "Connecting to") {
		t.Fatalf("connect screen not back:\n%s", view(m))
	}
}
