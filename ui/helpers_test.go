package ui

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"charm.land/bubbles/v2/cursor"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"

	"github.com/ssmtui/ssmtui/inventory"
)

// testNow is the pinned clock of every test.
var testNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// fixture is a small fleet over two profiles and three regions.
func fixture() []inventory.Result {
	launch := time.Date(2025, 3, 14, 9, 26, 0, 0, time.UTC)
	return []inventory.Result{
		{Profile: "prod", Region: "eu-west-1", Fetched: testNow, Instances: []inventory.Instance{
			{ID: "i-0a1b2c3d4e5f60001", Name: "web-1", Profile: "prod", Account: "111122223333", Region: "eu-west-1",
				PingStatus: "Online", AgentVersion: "3.3.1142.0", IsLatestVersion: true, PlatformType: "Linux",
				PlatformName: "Amazon Linux", PlatformVersion: "2023", State: "running", InstanceType: "t3.micro",
				PrivateIP: "10.0.1.11", VPCID: "vpc-0abc", AvailabilityZone: "eu-west-1a", LaunchTime: launch,
				Tags: map[string]string{"Name": "web-1", "env": "prod", "team": "web"}},
			{ID: "i-0a1b2c3d4e5f60002", Name: "web-2", Profile: "prod", Account: "111122223333", Region: "eu-west-1",
				PingStatus: "Online", AgentVersion: "3.1.0.0", IsLatestVersion: false, PlatformType: "Linux",
				PlatformName: "Ubuntu", PlatformVersion: "24.04", State: "running", InstanceType: "t3.small",
				PrivateIP: "10.0.1.12"},
			{ID: "i-0a1b2c3d4e5f60003", Name: "db-primary", Profile: "prod", Region: "eu-west-1",
				PingStatus: "ConnectionLost", AgentVersion: "3.3.1142.0", IsLatestVersion: true, PlatformType: "Linux",
				PlatformName: "Debian GNU/Linux", PlatformVersion: "12", State: "running", PrivateIP: "10.0.2.5"},
		}},
		{Profile: "prod", Region: "us-east-1", Fetched: testNow, Instances: []inventory.Instance{
			{ID: "i-0f00000000000aaaa", Name: "ad-controller", Profile: "prod", Region: "us-east-1",
				PingStatus: "Online", AgentVersion: "3.3.1142.0", IsLatestVersion: true, PlatformType: "Windows",
				PlatformName: "Microsoft Windows Server 2022 Datacenter", State: "running", PrivateIP: "10.1.0.4"},
			{ID: "i-0f00000000000bbbb", Name: "batch-old", Profile: "prod", Region: "us-east-1",
				PingStatus: "ConnectionLost", PlatformType: "Linux", PlatformName: "Amazon Linux",
				PlatformVersion: "2", State: "stopped", PrivateIP: "10.1.0.9"},
		}},
		{Profile: "staging", Region: "ap-south-1", Err: errors.New("AccessDenied: not authorized to perform ssm:DescribeInstanceInformation")},
		{Profile: "staging", Region: "eu-west-1", Fetched: testNow, Instances: []inventory.Instance{
			{ID: "mi-0123456789abcdef0", Name: "rack-04", Profile: "staging", Region: "eu-west-1",
				PingStatus: "Online", AgentVersion: "3.3.1142.0", IsLatestVersion: true, PlatformType: "Linux",
				PlatformName: "Red Hat Enterprise Linux", PlatformVersion: "9.4", ResourceType: "ManagedInstance",
				PrivateIP: "192.168.4.20"},
		}},
	}
}

// fakeSource emits fixed results, optionally one at a time on demand.
type fakeSource struct {
	results []inventory.Result
	gate    chan struct{} // if set, each result waits for a token
	scans   int
	mu      sync.Mutex
}

func (s *fakeSource) Scan(ctx context.Context, emit func(inventory.Result)) {
	s.mu.Lock()
	s.scans++
	s.mu.Unlock()
	for _, r := range s.results {
		if s.gate != nil {
			select {
			case <-s.gate:
			case <-ctx.Done():
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		emit(r)
	}
}

func (s *fakeSource) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scans
}

// fakeSession records how the UI drives it; Run returns runErr.
type fakeSession struct {
	mu       sync.Mutex
	runErr   error
	ran      bool
	closed   int
	stdinSet bool
}

func (s *fakeSession) Run() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ran = true
	return s.runErr
}
func (s *fakeSession) SetStdin(io.Reader) {
	s.mu.Lock()
	s.stdinSet = true
	s.mu.Unlock()
}
func (s *fakeSession) SetStdout(io.Writer) {}
func (s *fakeSession) SetStderr(io.Writer) {}
func (s *fakeSession) Close() error {
	s.mu.Lock()
	s.closed++
	s.mu.Unlock()
	return nil
}
func (s *fakeSession) state() (ran bool, closed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ran, s.closed
}

// fakeConnector reports progress, optionally asks about a host key and a
// passphrase, and returns sess or err.
type fakeConnector struct {
	askHostKey bool
	askPass    bool
	sess       *fakeSession
	err        error

	mu       sync.Mutex
	trusted  *bool
	secret   string
	passErr  error
	got      inventory.Instance
	gotMode  Mode
	finished chan struct{}
}

func (c *fakeConnector) Connect(ctx context.Context, inst inventory.Instance, mode Mode, p Prompter, progress func(string)) (Session, error) {
	defer func() {
		if c.finished != nil {
			close(c.finished)
		}
	}()
	c.mu.Lock()
	c.got, c.gotMode = inst, mode
	c.mu.Unlock()
	progress("starting SSM session")
	progress("opening data channel")
	if c.askHostKey {
		ok, err := p.ConfirmHostKey(ctx, HostKey{InstanceID: inst.ID, Name: inst.Name, Region: inst.Region,
			Account: inst.Account, KeyType: "ssh-ed25519", Fingerprint: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"})
		c.mu.Lock()
		c.trusted = &ok
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errors.New("host key rejected")
		}
	}
	if c.askPass {
		secret, err := p.Passphrase(ctx, "~/.ssh/id_ed25519 is encrypted")
		c.mu.Lock()
		c.secret, c.passErr = string(secret), err
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	progress("authenticating as ec2-user")
	if c.err != nil {
		return nil, c.err
	}
	return c.sess, nil
}

// drain runs cmd and feeds its messages back into m until no command is
// left. Timer-driven messages (spinner ticks, cursor blinks) are not fed
// back, so drain always ends. Exec requests are returned in execs.
func drain(t *testing.T, m tea.Model, cmd tea.Cmd) tea.Model {
	t.Helper()
	if cmd == nil {
		return m
	}
	switch msg := cmd().(type) {
	case tea.BatchMsg:
		for _, c := range msg {
			m = drain(t, m, c)
		}
	case nil, spinner.TickMsg, cursor.BlinkMsg:
	default:
		var next tea.Cmd
		m, next = m.Update(msg)
		m = drain(t, m, next)
	}
	return m
}

// update feeds one message and returns the model and command.
func update(t *testing.T, m Model, msg tea.Msg) (Model, tea.Cmd) {
	t.Helper()
	next, cmd := m.Update(msg)
	nm, ok := next.(Model)
	if !ok {
		t.Fatalf("Update returned %T, want ui.Model", next)
	}
	return nm, cmd
}

func press(code rune, text string) tea.KeyPressMsg {
	return tea.KeyPressMsg{Code: code, Text: text}
}

func keyOf(r rune) tea.KeyPressMsg { return press(r, string(r)) }

var (
	enterKey = tea.KeyPressMsg{Code: tea.KeyEnter}
	escKey   = tea.KeyPressMsg{Code: tea.KeyEscape}
)

// loaded returns a model that has received every fixture result.
func loaded(t *testing.T, w, h int) Model {
	t.Helper()
	m := New(Options{Source: &fakeSource{}, Connector: &fakeConnector{}, EnableShell: true, Now: func() time.Time { return testNow }})
	m, _ = update(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	for _, r := range fixture() {
		m, _ = update(t, m, regionLoadedMsg{gen: m.gen, result: r, ch: closedResults()})
	}
	m, _ = update(t, m, scanDoneMsg{gen: m.gen})
	return m
}

func closedResults() <-chan inventory.Result {
	ch := make(chan inventory.Result)
	close(ch)
	return ch
}
