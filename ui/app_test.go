package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/ssmtui/ssmtui/inventory"
	"github.com/ssmtui/ssmtui/sshclient"
)

func view(m Model) string { return ansi.Strip(m.View().Content) }

func ids(m Model) []string {
	var out []string
	for _, r := range m.visible {
		out = append(out, r.inst.ID)
	}
	return out
}

func TestScanFillsTableProgressively(t *testing.T) {
	src := &fakeSource{results: fixture()}
	m := New(Options{Source: src, Now: func() time.Time { return testNow }})
	m, _ = update(t, m, tea.WindowSizeMsg{Width: 120, Height: 30})
	if !strings.Contains(view(m), "scanning regions…") {
		t.Fatalf("before any result the status should say scanning:\n%s", view(m))
	}
	got := drain(t, m, m.Init()).(Model)
	if n := len(got.rows); n != 6 {
		t.Fatalf("rows = %d, want 6", n)
	}
	if got.scanning {
		t.Error("scanning still true after the scan finished")
	}
	v := view(got)
	for _, want := range []string{"web-1", "rack-04", "prod/eu-west-1 ✓ 3", "staging/ap-south-1 ✗ AccessDenied", "6 instances"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
}

func TestRegionResultsOneAtATime(t *testing.T) {
	m := New(Options{Source: &fakeSource{}, Now: func() time.Time { return testNow }})
	m, _ = update(t, m, tea.WindowSizeMsg{Width: 120, Height: 30})
	res := fixture()
	m, cmd := update(t, m, regionLoadedMsg{gen: m.gen, result: res[1], ch: closedResults()})
	if cmd == nil {
		t.Fatal("a region result must re-arm the scan channel")
	}
	if len(m.rows) != 2 || !strings.Contains(view(m), "ad-controller") {
		t.Fatalf("after one region: rows=%d\n%s", len(m.rows), view(m))
	}
	m, _ = update(t, m, regionLoadedMsg{gen: m.gen, result: res[0], ch: closedResults()})
	if len(m.rows) != 5 {
		t.Fatalf("after two regions: rows=%d", len(m.rows))
	}
	// A result of a cancelled generation is dropped and not re-armed.
	m2, cmd := update(t, m, regionLoadedMsg{gen: m.gen - 1, result: res[3], ch: closedResults()})
	if cmd != nil || len(m2.rows) != 5 {
		t.Errorf("stale result: cmd=%v rows=%d, want dropped", cmd != nil, len(m2.rows))
	}
}

func TestCachedThenLive(t *testing.T) {
	m := New(Options{Source: &fakeSource{}, Now: func() time.Time { return testNow }})
	m, _ = update(t, m, tea.WindowSizeMsg{Width: 120, Height: 30})
	live := fixture()[0]
	cached := live
	cached.FromCache = true
	cached.Fetched = testNow.Add(-10 * time.Minute)
	cached.Instances = live.Instances[:1]

	m, _ = update(t, m, regionLoadedMsg{gen: m.gen, result: cached, ch: closedResults()})
	v := view(m)
	if !strings.Contains(v, "Online · 10m") || !strings.Contains(v, "eu-west-1 … 1 (10m old)") {
		t.Fatalf("cached rows should show their age:\n%s", v)
	}
	m, _ = update(t, m, regionLoadedMsg{gen: m.gen, result: live, ch: closedResults()})
	if len(m.rows) != 3 || strings.Contains(view(m), "10m") {
		t.Fatalf("live result should replace the cached one: rows=%d\n%s", len(m.rows), view(m))
	}
	// A late cached result never replaces live data of the same generation.
	m, _ = update(t, m, regionLoadedMsg{gen: m.gen, result: cached, ch: closedResults()})
	if len(m.rows) != 3 {
		t.Errorf("late cache replaced live rows: rows=%d", len(m.rows))
	}
}

func TestFailedRefreshKeepsRows(t *testing.T) {
	m := loaded(t, 120, 30)
	failed := inventory.Result{Profile: "prod", Region: "eu-west-1", Err: errors.New("ThrottlingException: slow down")}
	m, _ = update(t, m, keyOf('r'))
	m, _ = update(t, m, regionLoadedMsg{gen: m.gen, result: failed, ch: closedResults()})
	if len(m.rows) != 6 {
		t.Errorf("rows = %d, want the 6 previous rows kept", len(m.rows))
	}
	if !strings.Contains(view(m), "prod/eu-west-1 ✗ ThrottlingException") {
		t.Errorf("failure not shown:\n%s", view(m))
	}
}

func TestRefreshStartsNewGeneration(t *testing.T) {
	src := &fakeSource{results: fixture()}
	m := New(Options{Source: src, Now: func() time.Time { return testNow }})
	m, _ = update(t, m, tea.WindowSizeMsg{Width: 120, Height: 30})
	m = drain(t, m, m.Init()).(Model)
	gen := m.gen
	m, cmd := update(t, m, keyOf('r'))
	if m.gen != gen+1 || !m.scanning {
		t.Fatalf("refresh: gen %d → %d, scanning=%v", gen, m.gen, m.scanning)
	}
	if !strings.Contains(view(m), "prod/eu-west-1 … 3") {
		t.Errorf("regions of the previous scan should show as pending:\n%s", view(m))
	}
	m = drain(t, m, cmd).(Model)
	if src.count() != 2 || m.scanning || len(m.rows) != 6 {
		t.Errorf("after refresh: scans=%d scanning=%v rows=%d", src.count(), m.scanning, len(m.rows))
	}
}

func TestNavigationAndSelectionSurvivesNewRows(t *testing.T) {
	m := New(Options{Source: &fakeSource{}, Now: func() time.Time { return testNow }})
	m, _ = update(t, m, tea.WindowSizeMsg{Width: 120, Height: 30})
	res := fixture()
	m, _ = update(t, m, regionLoadedMsg{gen: m.gen, result: res[0], ch: closedResults()})
	// Untouched cursor stays on top as rows arrive.
	m, _ = update(t, m, regionLoadedMsg{gen: m.gen, result: res[1], ch: closedResults()})
	if sel, _ := m.Selected(); sel.Name != "ad-controller" {
		t.Fatalf("untouched cursor on %q, want the first row", sel.Name)
	}
	m, _ = update(t, m, keyOf('j'))
	m, _ = update(t, m, tea.KeyPressMsg{Code: tea.KeyDown})
	if sel, _ := m.Selected(); sel.Name != "db-primary" {
		t.Fatalf("after j, down: selected %q, want db-primary", sel.Name)
	}
	// New rows sort above it; the selection follows the instance.
	m, _ = update(t, m, regionLoadedMsg{gen: m.gen, result: inventory.Result{Profile: "prod", Region: "sa-east-1",
		Instances: []inventory.Instance{{ID: "i-aaa", Name: "aaa", PingStatus: "Online", Region: "sa-east-1", Profile: "prod"}}}, ch: closedResults()})
	if sel, _ := m.Selected(); sel.Name != "db-primary" {
		t.Errorf("after new rows: selected %q, want db-primary", sel.Name)
	}
	m, _ = update(t, m, keyOf('k'))
	if sel, _ := m.Selected(); sel.Name != "batch-old" {
		t.Errorf("after k: selected %q, want batch-old", sel.Name)
	}
}

func TestFilter(t *testing.T) {
	m := loaded(t, 120, 30)
	m, _ = update(t, m, keyOf('/'))
	if !m.filtering {
		t.Fatal("/ should open the filter")
	}
	for _, r := range "web" {
		m, _ = update(t, m, keyOf(r))
	}
	if got := ids(m); len(got) != 2 || got[0] != "i-0a1b2c3d4e5f60001" {
		t.Fatalf("filter web → %v", got)
	}
	if v := view(m); !strings.Contains(v, "2/6 instances") || !strings.Contains(v, "/ web") {
		t.Errorf("header should show the filter and counts:\n%s", v)
	}
	// j types into the filter rather than moving.
	m, _ = update(t, m, keyOf('j'))
	if m.filter.Value() != "webj" {
		t.Errorf("filter value %q, want webj", m.filter.Value())
	}
	m, _ = update(t, m, tea.KeyPressMsg{Code: tea.KeyBackspace})
	m, _ = update(t, m, tea.KeyPressMsg{Code: tea.KeyDown})
	if sel, _ := m.Selected(); sel.Name != "web-2" {
		t.Errorf("down while filtering selected %q, want web-2", sel.Name)
	}
	// Enter keeps the filter and returns to the table.
	m, _ = update(t, m, enterKey)
	if m.filtering || len(m.visible) != 2 {
		t.Fatalf("enter: filtering=%v visible=%d", m.filtering, len(m.visible))
	}
	// Esc in the table clears it.
	m, _ = update(t, m, escKey)
	if len(m.visible) != 6 || m.filter.Value() != "" {
		t.Errorf("esc: visible=%d filter=%q", len(m.visible), m.filter.Value())
	}
}

func TestFilterNoMatchDisablesConnect(t *testing.T) {
	m := loaded(t, 120, 30)
	m, _ = update(t, m, keyOf('/'))
	for _, r := range "zzzz" {
		m, _ = update(t, m, keyOf(r))
	}
	m, _ = update(t, m, enterKey)
	if m.keys.Connect.Enabled() {
		t.Error("connect stays enabled with no rows")
	}
	if !strings.Contains(view(m), "no instance matches the filter") {
		t.Errorf("view:\n%s", view(m))
	}
	if m2, cmd := update(t, m, enterKey); cmd != nil || m2.screen != screenPicker {
		t.Error("enter with no rows must do nothing")
	}
}

func TestEnterRefusedWithReason(t *testing.T) {
	for name, tc := range map[string]struct {
		target string
		key    tea.KeyPressMsg
		want   string
	}{
		"windows ssh":   {target: "ad-controller", key: enterKey, want: "runs Windows: no SSH; press s"},
		"stopped":       {target: "batch-old", key: enterKey, want: "is stopped: start it first"},
		"agent offline": {target: "db-primary", key: keyOf('s'), want: "is ConnectionLost"},
	} {
		t.Run(name, func(t *testing.T) {
			m := loaded(t, 120, 30)
			m = selectName(t, m, tc.target)
			m, cmd := update(t, m, tc.key)
			if cmd != nil || m.screen != screenPicker {
				t.Fatalf("connect started on %s", tc.target)
			}
			if !strings.Contains(m.Status(), tc.want) || !strings.Contains(view(m), tc.want) {
				t.Errorf("status %q, want it to contain %q", m.Status(), tc.want)
			}
		})
	}
}

func selectName(t *testing.T, m Model, name string) Model {
	t.Helper()
	for range len(m.visible) {
		if sel, _ := m.Selected(); sel.Name == name {
			return m
		}
		m, _ = update(t, m, tea.KeyPressMsg{Code: tea.KeyDown})
	}
	t.Fatalf("no row named %s", name)
	return m
}

func TestCopyID(t *testing.T) {
	m := loaded(t, 120, 30)
	m = selectName(t, m, "web-2")
	m, cmd := update(t, m, keyOf('y'))
	if cmd == nil {
		t.Fatal("y returned no command")
	}
	if got := cmd(); got == nil || !strings.Contains(m.Status(), "copied i-0a1b2c3d4e5f60002") {
		t.Errorf("y: msg %T, status %q", got, m.Status())
	}
}

func TestHelpToggleKeepsLayoutInBounds(t *testing.T) {
	m := loaded(t, 80, 20)
	m, _ = update(t, m, keyOf('?'))
	v := view(m)
	if !strings.Contains(v, "page down") {
		t.Errorf("full help missing:\n%s", v)
	}
	if n := len(strings.Split(v, "\n")); n > 20 {
		t.Errorf("view has %d lines, want ≤ 20", n)
	}
}

func TestWindowSizeClamped(t *testing.T) {
	m := loaded(t, 80, 24)
	for _, size := range []tea.WindowSizeMsg{{Width: 20, Height: 3}, {Width: 1, Height: 1}, {Width: 200, Height: 60}} {
		m, _ = update(t, m, size)
		v := view(m)
		lines := strings.Split(v, "\n")
		if len(lines) > size.Height {
			t.Errorf("%dx%d: %d lines", size.Width, size.Height, len(lines))
		}
		for _, l := range lines {
			if w := ansi.StringWidth(l); w > size.Width {
				t.Errorf("%dx%d: line width %d: %q", size.Width, size.Height, w, l)
			}
		}
	}
}

func TestBackgroundColorRebuildsStyles(t *testing.T) {
	m := loaded(t, 80, 24)
	dark := m.View().Content
	m, _ = update(t, m, tea.BackgroundColorMsg{Color: lightBG{}})
	if m.isDark {
		t.Fatal("a light background must switch to light styles")
	}
	if m.View().Content == dark {
		t.Error("view unchanged after switching to light styles")
	}
}

// lightBG is a white background colour.
type lightBG struct{}

func (lightBG) RGBA() (r, g, b, a uint32) { return 0xffff, 0xffff, 0xffff, 0xffff }

func TestQuitCancelsScan(t *testing.T) {
	src := &fakeSource{results: fixture(), gate: make(chan struct{})}
	m := New(Options{Source: src})
	ctx := m.scanCtx
	m, cmd := update(t, m, keyOf('q'))
	if cmd == nil || cmd() != tea.Quit() {
		t.Fatal("q must quit")
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("quit did not cancel the scan context")
	}
	if !m.quitting {
		t.Error("quitting not set")
	}
}

func TestConnectFlowHostKeyAndPassphrase(t *testing.T) {
	sess := &fakeSession{}
	conn := &fakeConnector{askHostKey: true, askPass: true, sess: sess}
	m := loaded(t, 100, 30)
	m.connector = conn
	m = selectName(t, m, "web-1")
	m, cmd := update(t, m, enterKey)
	if m.screen != screenConnecting {
		t.Fatalf("screen %v after enter", m.screen)
	}
	m = drain(t, m, cmd).(Model)
	if m.screen != screenHostKey {
		t.Fatalf("screen %v, want the host-key modal", m.screen)
	}
	v := view(m)
	for _, want := range []string{"Unknown host key", "web-1 (i-0a1b2c3d4e5f60001)", "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", "eu-west-1 · 111122223333", "opening data channel"[:0]} {
		if !strings.Contains(v, want) {
			t.Errorf("modal lacks %q:\n%s", want, v)
		}
	}
	// Unrelated keys do nothing while the modal is up.
	m, cmd = update(t, m, keyOf('j'))
	if cmd != nil || m.screen != screenHostKey {
		t.Fatal("j answered the modal")
	}
	m, cmd = update(t, m, keyOf('y'))
	m = drain(t, m, cmd).(Model)
	if m.screen != screenPassphrase {
		t.Fatalf("screen %v, want the passphrase modal", m.screen)
	}
	if !strings.Contains(view(m), "~/.ssh/id_ed25519 is encrypted") {
		t.Errorf("passphrase modal:\n%s", view(m))
	}
	for _, r := range "s3cret" {
		m, _ = update(t, m, keyOf(r))
	}
	if strings.Contains(view(m), "s3cret") {
		t.Error("passphrase echoed in the view")
	}
	m, cmd = update(t, m, enterKey)
	if m.screen != screenConnecting {
		t.Fatalf("screen %v after the passphrase", m.screen)
	}
	// The next event is the final one: the session, handed over with tea.Exec.
	msg := cmd()
	ev, ok := msg.(connectEventMsg)
	for ok && !ev.ev.done {
		m, cmd = update(t, m, ev)
		msg = cmd()
		ev, ok = msg.(connectEventMsg)
	}
	if !ok {
		t.Fatalf("got %T, want the final connect event", msg)
	}
	m, cmd = update(t, m, ev)
	if cmd == nil || m.screen != screenPicker {
		t.Fatalf("done: screen %v cmd %v", m.screen, cmd != nil)
	}
	conn.mu.Lock()
	trusted, secret, mode := conn.trusted, conn.secret, conn.gotMode
	conn.mu.Unlock()
	if trusted == nil || !*trusted || secret != "s3cret" || mode != ModeSSH {
		t.Errorf("connector saw trusted=%v secret=%q mode=%v", trusted, secret, mode)
	}
	for i, want := range []string{"starting SSM session", "opening data channel", "host key trusted", "authenticating as ec2-user"} {
		if i >= len(m.phases) || m.phases[i] != want {
			t.Errorf("phases = %q, want %q at %d", m.phases, want, i)
			break
		}
	}
}

func TestHostKeyRejected(t *testing.T) {
	conn := &fakeConnector{askHostKey: true, sess: &fakeSession{}}
	m := loaded(t, 100, 30)
	m.connector = conn
	m = selectName(t, m, "web-1")
	m, cmd := update(t, m, enterKey)
	m = drain(t, m, cmd).(Model)
	m, cmd = update(t, m, keyOf('n'))
	m = drain(t, m, cmd).(Model)
	if m.screen != screenPicker || !strings.Contains(m.Status(), "host key rejected") {
		t.Errorf("screen %v status %q", m.screen, m.Status())
	}
}

func TestConnectErrorStaysInPicker(t *testing.T) {
	conn := &fakeConnector{err: errors.New("start session for i-0a1b2c3d4e5f60001: TargetNotConnected")}
	m := loaded(t, 100, 30)
	m.connector = conn
	m = selectName(t, m, "web-1")
	m, cmd := update(t, m, enterKey)
	m = drain(t, m, cmd).(Model)
	if m.screen != screenPicker || !strings.Contains(view(m), "TargetNotConnected") {
		t.Errorf("screen %v view:\n%s", m.screen, view(m))
	}
}

func TestShellModeReachesConnector(t *testing.T) {
	conn := &fakeConnector{err: errors.New("stop here")}
	m := loaded(t, 100, 30)
	m.connector = conn
	m = selectName(t, m, "ad-controller") // Windows: no SSH, but an SSM shell is fine
	m, cmd := update(t, m, keyOf('s'))
	if m.screen != screenConnecting {
		t.Fatalf("s on Windows: screen %v status %q", m.screen, m.Status())
	}
	drain(t, m, cmd)
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if conn.gotMode != ModeShell || conn.got.Name != "ad-controller" {
		t.Errorf("connector got %v for %q", conn.gotMode, conn.got.Name)
	}
}

// blockingConnector waits for cancellation, then returns a session anyway,
// as a racy real connector might.
type blockingConnector struct {
	sess     *fakeSession
	returned chan struct{}
}

func (c *blockingConnector) Connect(ctx context.Context, _ inventory.Instance, _ Mode, _ Prompter, progress func(string)) (Session, error) {
	defer close(c.returned)
	progress("waiting")
	<-ctx.Done()
	return c.sess, nil
}

func TestCancelConnectClosesLateSession(t *testing.T) {
	conn := &blockingConnector{sess: &fakeSession{}, returned: make(chan struct{})}
	m := loaded(t, 100, 30)
	m.connector = conn
	m = selectName(t, m, "web-1")
	m, cmd := update(t, m, enterKey)
	first := cmd().(tea.BatchMsg)
	var ev connectEventMsg
	for _, c := range first {
		if msg, ok := c().(connectEventMsg); ok {
			ev = msg
			break
		}
	}
	m, wait := update(t, m, ev)
	m, _ = update(t, m, escKey)
	if m.screen != screenPicker || !strings.Contains(m.Status(), "connect cancelled") {
		t.Fatalf("esc: screen %v status %q", m.screen, m.Status())
	}
	// Drain the abandoned attempt: a session that still arrives is closed.
	drain(t, m, wait)
	<-conn.returned
	deadline := time.After(5 * time.Second)
	for {
		if _, closed := conn.sess.state(); closed == 1 {
			break
		}
		select {
		case <-deadline:
			t.Fatal("late session never closed")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if ran, _ := conn.sess.state(); ran {
		t.Error("late session was run")
	}
}

func TestSessionEndedStatus(t *testing.T) {
	inst := inventory.Instance{ID: "i-1", Name: "web-1"}
	for name, tc := range map[string]struct {
		err  error
		want string
	}{
		"exit 0":        {err: nil, want: "web-1 (i-1): exit 0"},
		"exit 130":      {err: &sshclient.ExitError{Code: 130}, want: "web-1 (i-1): exit 130"},
		"wrapped exit":  {err: fmt.Errorf("shell: %w", &sshclient.ExitError{Code: 3}), want: "web-1 (i-1): exit 3"},
		"signal":        {err: &sshclient.ExitError{Code: 143, Signal: "TERM"}, want: "web-1 (i-1): killed by SIGTERM (exit 143)"},
		"tilde dot":     {err: sshclient.ErrDisconnected, want: "web-1 (i-1): disconnected (~.)"},
		"transport err": {err: errors.New("session: connection reset"), want: "web-1 (i-1): session: connection reset"},
	} {
		t.Run(name, func(t *testing.T) {
			sess := &fakeSession{}
			m := loaded(t, 100, 30)
			m, cmd := update(t, m, sessionEndedMsg{inst: inst, err: tc.err, sess: sess})
			if m.Status() != tc.want {
				t.Errorf("status %q, want %q", m.Status(), tc.want)
			}
			drain(t, m, cmd)
			if _, closed := sess.state(); closed != 1 {
				t.Errorf("session closed %d times, want 1", closed)
			}
		})
	}
}

func TestShellKeyDisabledWithoutShellMode(t *testing.T) {
	m := New(Options{Source: &fakeSource{}, Connector: &fakeConnector{}, Now: func() time.Time { return testNow }})
	m, _ = update(t, m, tea.WindowSizeMsg{Width: 120, Height: 30})
	for _, r := range fixture() {
		m, _ = update(t, m, regionLoadedMsg{gen: m.gen, result: r, ch: closedResults()})
	}
	if m.keys.Shell.Enabled() || strings.Contains(view(m), "ssm shell") {
		t.Error("s must be disabled and hidden when the connector has no shell mode")
	}
	m = selectName(t, m, "ad-controller")
	if m2, cmd := update(t, m, keyOf('s')); cmd != nil || m2.screen != screenPicker {
		t.Error("s started a connect")
	}
	m, _ = update(t, m, enterKey)
	if !strings.Contains(m.Status(), "ssmtui shell i-0f00000000000aaaa") {
		t.Errorf("status %q should point at ssmtui shell", m.Status())
	}
}

func TestFinishedScanDropsWhatItDidNotReport(t *testing.T) {
	m := loaded(t, 120, 30)
	res := fixture()
	// A profile-level failure from an earlier scan, then a refresh in which
	// prod answers only eu-west-1 and staging cannot be listed at all.
	m.regions[regionKey{"dev", ""}] = regionState{gen: m.gen, result: inventory.Result{Profile: "dev", Err: errors.New("no credentials")}}
	m, _ = update(t, m, keyOf('r'))
	m, _ = update(t, m, regionLoadedMsg{gen: m.gen, result: res[0], ch: closedResults()})
	m, _ = update(t, m, regionLoadedMsg{gen: m.gen, result: inventory.Result{Profile: "staging", Err: errors.New("SSO expired")}, ch: closedResults()})
	m, _ = update(t, m, scanDoneMsg{gen: m.gen})
	var keys []string
	for k := range m.regions {
		keys = append(keys, k.profile+"/"+k.region)
	}
	slices.Sort(keys)
	if got, want := strings.Join(keys, " "), "prod/eu-west-1 staging/ staging/ap-south-1 staging/eu-west-1"; got != want {
		t.Errorf("regions after the scan: %s, want %s", got, want)
	}
	// us-east-1 of prod is gone; staging's old rows stay (its listing failed).
	if len(m.rows) != 4 {
		t.Errorf("rows = %d, want 3 prod eu-west-1 + 1 staging", len(m.rows))
	}
}

func TestLongErrorWrapsInStatus(t *testing.T) {
	long := "ssh to i-0a1b2c3d4e5f60001: login as \"ec2-user\" (user from platform Amazon Linux) was refused; tried: EC2 Instance Connect key, ssh-agent (3 keys), ~/.ssh/id_ed25519; pick another user with --user or add your key to the instance"
	conn := &fakeConnector{err: errors.New(long)}
	m := loaded(t, 80, 24)
	m.connector = conn
	m = selectName(t, m, "web-1")
	m, cmd := update(t, m, enterKey)
	m = drain(t, m, cmd).(Model)
	v := view(m)
	if !strings.Contains(v, "pick another user with") {
		t.Errorf("the end of a long error must stay visible (wrapped):\n%s", v)
	}
	lines := strings.Split(v, "\n")
	if len(lines) > 24 {
		t.Errorf("view has %d lines, want ≤ 24", len(lines))
	}
	if !strings.Contains(lines[len(lines)-1], "quit") {
		t.Errorf("help line pushed off the screen:\n%s", v)
	}
}

// TestDoctorKey: d diagnoses the selected instance through the connector
// (ModeDoctor), offline ones included, which Enter refuses; hybrid nodes
// are refused with a reason; without EnableDoctor the key does nothing.
func TestDoctorKey(t *testing.T) {
	conn := &fakeConnector{err: errors.New("stop here")}
	m := loaded(t, 120, 30)
	m.connector = conn
	m.enableDoctor = true
	m.updateKeys()
	m = selectName(t, m, lostName(t, m))
	if m2, _ := update(t, m, enterKey); !strings.Contains(m2.Status(), "press d to diagnose") {
		t.Errorf("Enter on an offline instance: status %q", m2.Status())
	}
	m2, cmd := update(t, m, keyOf('d'))
	if m2.screen != screenConnecting {
		t.Fatalf("d: screen %v status %q", m2.screen, m2.Status())
	}
	drain(t, m2, cmd)
	conn.mu.Lock()
	gotMode := conn.gotMode
	conn.mu.Unlock()
	if gotMode != ModeDoctor {
		t.Errorf("connector got mode %v, want doctor", gotMode)
	}
	m = selectName(t, m, "rack-04")
	if m2, cmd := update(t, m, keyOf('d')); cmd != nil || !strings.Contains(m2.Status(), "hybrid node") {
		t.Errorf("d on a mi- node: status %q", m2.Status())
	}

	off := loaded(t, 120, 30)
	if off.keys.Doctor.Enabled() {
		t.Error("d enabled without EnableDoctor")
	}
	if m2, cmd := update(t, off, keyOf('d')); cmd != nil || m2.screen != screenPicker {
		t.Error("d started something without EnableDoctor")
	}
}

// lostName is the name of a ConnectionLost EC2 instance of the fixture.
func lostName(t *testing.T, m Model) string {
	t.Helper()
	for _, r := range fixture() {
		for _, in := range r.Instances {
			if in.PingStatus == "ConnectionLost" && strings.HasPrefix(in.ID, "i-") {
				return in.Name
			}
		}
	}
	t.Fatal("fixture has no ConnectionLost EC2 instance")
	return ""
}
