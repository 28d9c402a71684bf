package ui

import (
	"bytes"
	"errors"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/ssmtui/ssmtui/sshclient"
)

// Flows through a real tea.Program (teatest): data arriving, filter, Enter
// handing the terminal to a fake Session with tea.Exec, and the way back.
// Assertions are on the final model; output is only waited on, never
// compared byte for byte.

const flowTimeout = 10 * time.Second

func newFlow(t *testing.T, src Source, conn Connector) *teatest.TestModel {
	t.Helper()
	m := New(Options{Source: src, Connector: conn, EnableShell: true, Now: func() time.Time { return testNow }})
	return teatest.NewTestModel(t, m, teatest.WithInitialTermSize(120, 30))
}

func waitOutput(t *testing.T, tm *teatest.TestModel, want string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(want)) },
		teatest.WithDuration(flowTimeout), teatest.WithCheckInterval(5*time.Millisecond))
}

// waitClosed waits until the UI has closed sess, which it does right after
// handling the end of the shell (sessionEndedMsg): from then on the status
// is set. Waiting on the model's effect rather than on renderer bytes keeps
// the flow independent of how the renderer repaints after tea.Exec.
func waitClosed(t *testing.T, sess *fakeSession) {
	t.Helper()
	deadline := time.Now().Add(flowTimeout)
	for {
		if _, closed := sess.state(); closed > 0 {
			return
		}
		if time.Now().After(deadline) {
			ran, _ := sess.state()
			t.Fatalf("session not closed after %s (ran=%v)", flowTimeout, ran)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func finalModel(t *testing.T, tm *teatest.TestModel) Model {
	t.Helper()
	tm.Send(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl})
	fm, ok := tm.FinalModel(t, teatest.WithFinalTimeout(flowTimeout)).(Model)
	if !ok {
		t.Fatal("final model is not a ui.Model")
	}
	return fm
}

func TestFlowProgressiveDataAndFilter(t *testing.T) {
	src := &fakeSource{results: fixture(), gate: make(chan struct{})}
	tm := newFlow(t, src, &fakeConnector{})
	src.gate <- struct{}{}
	waitOutput(t, tm, "web-2")
	src.gate <- struct{}{}
	waitOutput(t, tm, "ad-controller")
	src.gate <- struct{}{}
	waitOutput(t, tm, "AccessDenied")
	src.gate <- struct{}{}
	waitOutput(t, tm, "rack-04")
	tm.Type("/rack")
	waitOutput(t, tm, "1/6")
	fm := finalModel(t, tm)
	if got := ids(fm); len(got) != 1 || got[0] != "mi-0123456789abcdef0" {
		t.Errorf("filtered rows %v", got)
	}
	if fm.scanning {
		t.Error("scan not finished")
	}
}

func TestFlowExecAndReturnWithExitStatus(t *testing.T) {
	sess := &fakeSession{runErr: &sshclient.ExitError{Code: 130}}
	src := &fakeSource{results: fixture()}
	tm := newFlow(t, src, &fakeConnector{sess: sess})
	waitOutput(t, tm, "rack-04")
	// rack-04 is the 4th row (sorted by name) and online Linux.
	tm.Type("jjj")
	tm.Send(enterKey)
	waitClosed(t, sess)
	fm := finalModel(t, tm)
	ran, closed := sess.state()
	if !ran || closed != 1 {
		t.Errorf("session ran=%v closed=%d, want run then closed once", ran, closed)
	}
	sess.mu.Lock()
	stdin := sess.stdinSet
	sess.mu.Unlock()
	if !stdin {
		t.Error("tea.Exec did not hand stdin to the session")
	}
	if fm.Status() != "rack-04 (mi-0123456789abcdef0): exit 130" || fm.screen != screenPicker {
		t.Errorf("status %q screen %v", fm.Status(), fm.screen)
	}
	if sel, _ := fm.Selected(); sel.Name != "rack-04" {
		t.Errorf("picker came back on %q, want rack-04 still selected", sel.Name)
	}
}

func TestFlowHostKeyModalThenShell(t *testing.T) {
	sess := &fakeSession{}
	conn := &fakeConnector{askHostKey: true, sess: sess}
	tm := newFlow(t, &fakeSource{results: fixture()}, conn)
	waitOutput(t, tm, "web-1")
	tm.Type("/web-1")
	tm.Send(enterKey) // apply the filter
	tm.Send(enterKey) // connect
	waitOutput(t, tm, "Unknown host key")
	tm.Type("y")
	waitClosed(t, sess)
	fm := finalModel(t, tm)
	conn.mu.Lock()
	trusted := conn.trusted
	conn.mu.Unlock()
	if trusted == nil || !*trusted {
		t.Error("the connector did not get the user's yes")
	}
	if ran, closed := sess.state(); !ran || closed != 1 {
		t.Errorf("session ran=%v closed=%d", ran, closed)
	}
	if fm.Status() != "web-1 (i-0a1b2c3d4e5f60001): exit 0" {
		t.Errorf("status %q", fm.Status())
	}
}

func TestFlowConnectFailureNoExec(t *testing.T) {
	sess := &fakeSession{}
	conn := &fakeConnector{err: errors.New("ssh handshake with i-0a1b2c3d4e5f60001: EOF"), sess: sess}
	tm := newFlow(t, &fakeSource{results: fixture()}, conn)
	waitOutput(t, tm, "web-1")
	tm.Type("/web-1")
	tm.Send(enterKey)
	tm.Send(enterKey)
	waitOutput(t, tm, "handshake")
	fm := finalModel(t, tm)
	if ran, _ := sess.state(); ran {
		t.Error("a failed connect must not exec")
	}
	if fm.screen != screenPicker || fm.statusKind != statusErr {
		t.Errorf("screen %v status %q", fm.screen, fm.Status())
	}
}
