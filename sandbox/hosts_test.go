//go:build unix

package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// run executes cmd in a new session and returns stdout, stderr and the
// Wait error.
func run(t *testing.T, c *ssh.Client, cmd, stdin string) (string, string, error) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	defer s.Close()
	var out, errOut bytes.Buffer
	s.Stdout, s.Stderr = &out, &errOut
	s.Stdin = strings.NewReader(stdin)
	err = s.Run(cmd)
	return out.String(), errOut.String(), err
}

func exitStatus(t *testing.T, err error) int {
	t.Helper()
	var ee *ssh.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("error %v is not *ssh.ExitError", err)
	}
	return ee.ExitStatus()
}

// TestEICKeyOpensHost is the EC2 Instance Connect flow end to end: push a
// key through the real SDK, then SSH to the instance's host with it.
func TestEICKeyOpensHost(t *testing.T) {
	clock := newFakeClock()
	sb := startHostsSandbox(t, Options{Now: clock.Now})
	signer, line := newEd25519(t)
	pushKey(t, eicClient(t, sb, hostsRegion), hostAL, "ec2-user", line)

	c, err := dialHost(t, sb, hostAL, "ec2-user", signer)
	if err != nil {
		t.Fatalf("ssh with a pushed key: %v", err)
	}

	t.Run("instance id in the environment", func(t *testing.T) {
		out, _, err := run(t, c, "echo $SSMTUI_INSTANCE_ID", "")
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		if out != hostAL+"\n" {
			t.Errorf("output %q, want %q", out, hostAL+"\n")
		}
	})
	t.Run("login environment", func(t *testing.T) {
		out, _, err := run(t, c, `echo "$USER|$SSMTUI_INSTANCE_NAME|$HOME|$(pwd)"`, "")
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		parts := strings.Split(strings.TrimSpace(out), "|")
		if len(parts) != 4 || parts[0] != "ec2-user" || parts[1] != "web-1" || filepath.Base(parts[2]) != hostAL {
			t.Fatalf("environment %q: want ec2-user|web-1|…/%s|…", out, hostAL)
		}
		if parts[3] != parts[2] {
			t.Errorf("working directory %q, want HOME %q", parts[3], parts[2])
		}
	})
	t.Run("exit status", func(t *testing.T) {
		_, _, err := run(t, c, "exit 3", "")
		if got := exitStatus(t, err); got != 3 {
			t.Errorf("exit status %d, want 3", got)
		}
	})
	t.Run("killed by a signal", func(t *testing.T) {
		_, _, err := run(t, c, "kill -TERM $$", "")
		var ee *ssh.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("error %v is not *ssh.ExitError", err)
		}
		if ee.Signal() != "TERM" {
			t.Errorf("exit signal %q, want TERM", ee.Signal())
		}
	})
	t.Run("separate stdout stderr and stdin", func(t *testing.T) {
		out, errOut, err := run(t, c, "tr a-z A-Z; echo oops >&2", "hello stdin")
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		if out != "HELLO STDIN" {
			t.Errorf("stdout %q, want %q", out, "HELLO STDIN")
		}
		if errOut != "oops\n" {
			t.Errorf("stderr %q, want %q", errOut, "oops\n")
		}
	})
	t.Run("locale env accepted, others refused", func(t *testing.T) {
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Setenv("LC_ALL", "C.UTF-8"); err != nil {
			t.Errorf("Setenv LC_ALL: %v", err)
		}
		if err := s.Setenv("EVIL", "1"); err == nil {
			t.Errorf("Setenv EVIL accepted, want refused")
		}
		out, err := s.Output("echo $LC_ALL/$EVIL")
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != "C.UTF-8/\n" {
			t.Errorf("output %q, want %q", out, "C.UTF-8/\n")
		}
	})

	t.Run("key refused after the lifetime", func(t *testing.T) {
		clock.Advance(EICKeyLifetime)
		c2, err := dialHost(t, sb, hostAL, "ec2-user", signer)
		if err != nil {
			t.Fatalf("ssh at exactly %v after the push: %v", EICKeyLifetime, err)
		}
		_ = c2.Close()
		clock.Advance(time.Second) // 61 s
		if _, err := dialHost(t, sb, hostAL, "ec2-user", signer); err == nil {
			t.Fatal("ssh 61 s after the push succeeded, want auth failure")
		}
		// The open connection outlives the key, as on a real instance.
		if out, _, err := run(t, c, "echo still", ""); err != nil || out != "still\n" {
			t.Errorf("existing connection: %q, %v", out, err)
		}
		// A new push opens it again.
		pushKey(t, eicClient(t, sb, hostsRegion), hostAL, "ec2-user", line)
		if _, err := dialHost(t, sb, hostAL, "ec2-user", signer); err != nil {
			t.Errorf("ssh after a new push: %v", err)
		}
	})
}

func TestLoginUsers(t *testing.T) {
	sb := startHostsSandbox(t, Options{Hosts: HostOptions{ExtraUsers: []string{"deploy"}}})
	eic := eicClient(t, sb, hostsRegion)
	signer, line := newEd25519(t)
	for _, id := range []string{hostAL, hostUbuntu, hostDebian} {
		for _, u := range []string{"ec2-user", "ubuntu", "admin", "root", "deploy"} {
			pushKey(t, eic, id, u, line)
		}
	}
	for _, tc := range []struct {
		id, user string
		ok       bool
	}{
		{hostAL, "ec2-user", true},
		{hostAL, "ubuntu", false},
		{hostAL, "root", false},
		{hostAL, "deploy", true},
		{hostUbuntu, "ubuntu", true},
		{hostUbuntu, "ec2-user", false},
		{hostDebian, "admin", true},
		{hostDebian, "ec2-user", false},
	} {
		t.Run(tc.id+" "+tc.user, func(t *testing.T) {
			c, err := dialHost(t, sb, tc.id, tc.user, signer)
			if tc.ok != (err == nil) {
				t.Fatalf("ssh %s@%s: err = %v, want ok = %v", tc.user, tc.id, err, tc.ok)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "unable to authenticate") {
					t.Errorf("refusal %v is not an authentication failure", err)
				}
				return
			}
			out, _, err := run(t, c, "echo $USER", "")
			if err != nil || out != tc.user+"\n" {
				t.Errorf("echo $USER = %q, %v; want %q", out, err, tc.user)
			}
		})
	}
	users, err := sb.LoginUsers(hostUbuntu)
	if err != nil || strings.Join(users, ",") != "ubuntu,deploy" {
		t.Errorf("LoginUsers(%s) = %v, %v; want [ubuntu deploy]", hostUbuntu, users, err)
	}
}

func TestAuthorizedKeysFile(t *testing.T) {
	allowed, allowedLine := newEd25519(t)
	other, _ := newEd25519(t)
	_, unrelated := newEd25519(t)
	path := filepath.Join(t.TempDir(), "authorized_keys")
	content := "# sandbox keys\n\n" + unrelated + `no-pty,from="127.0.0.1" ` + strings.TrimSpace(allowedLine) + " me@laptop\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	sb := startHostsSandbox(t, Options{Hosts: HostOptions{AuthorizedKeysFile: path}})
	c, err := dialHost(t, sb, hostUbuntu, "ubuntu", allowed)
	if err != nil {
		t.Fatalf("ssh with an authorized key: %v", err)
	}
	if out, _, err := run(t, c, "echo $SSMTUI_INSTANCE_ID", ""); err != nil || out != hostUbuntu+"\n" {
		t.Errorf("run: %q, %v", out, err)
	}
	if _, err := dialHost(t, sb, hostUbuntu, "ubuntu", other); err == nil {
		t.Error("ssh with a key outside authorized_keys succeeded")
	}
	if _, err := dialHost(t, sb, hostUbuntu, "ec2-user", allowed); err == nil {
		t.Error("authorized key opened a user that does not exist")
	}
}

func TestHostKeyStableForSeed(t *testing.T) {
	seed := []byte("a seed that ssmtui demo would persist")
	a := startHostsSandbox(t, Options{Hosts: HostOptions{KeySeed: seed}})
	b := startHostsSandbox(t, Options{Hosts: HostOptions{KeySeed: bytes.Clone(seed)}})
	other := startHostsSandbox(t, Options{Hosts: HostOptions{KeySeed: []byte("another seed")}})
	random1 := startHostsSandbox(t, Options{})
	random2 := startHostsSandbox(t, Options{})
	key := func(sb *Sandbox, id string) string {
		t.Helper()
		k, err := sb.HostPublicKey(id)
		if err != nil {
			t.Fatalf("HostPublicKey(%s): %v", id, err)
		}
		if k.Type() != ssh.KeyAlgoED25519 {
			t.Fatalf("host key type %s, want ed25519", k.Type())
		}
		return string(k.Marshal())
	}
	if key(a, hostAL) != key(b, hostAL) {
		t.Error("same seed, same instance: host keys differ")
	}
	if key(a, hostAL) == key(a, hostUbuntu) {
		t.Error("two instances share a host key")
	}
	if key(a, hostAL) == key(other, hostAL) {
		t.Error("different seeds give the same host key")
	}
	if key(random1, hostAL) == key(random2, hostAL) {
		t.Error("two sandboxes without a seed give the same host key")
	}
	if _, err := a.HostPublicKey("i-0000000000000dead"); !errors.Is(err, ErrHostUnknown) {
		t.Errorf("HostPublicKey(unknown) = %v, want ErrHostUnknown", err)
	}

	// The server presents that key: dialHost pins it with FixedHostKey.
	signer, line := newEd25519(t)
	for _, sb := range []*Sandbox{a, b} {
		pushKey(t, eicClient(t, sb, hostsRegion), hostAL, "ec2-user", line)
		if _, err := dialHost(t, sb, hostAL, "ec2-user", signer); err != nil {
			t.Fatalf("handshake pinned to the derived host key: %v", err)
		}
	}
}

func TestHostAddr(t *testing.T) {
	sb := startHostsSandbox(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr, err := sb.host.Addr(ctx, hostAL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("address %q is not on 127.0.0.1", addr)
	}
	if again, err := sb.HostAddr(ctx, hostAL); err != nil || again != addr {
		t.Errorf("second Addr = %q, %v; want the same %q", again, err, addr)
	}
	for id, want := range map[string]error{
		hostNoSSH:            ErrHostNoSSH,
		hostStopped:          ErrHostNotRunning,
		"i-0000000000000bad": ErrHostUnknown,
	} {
		if _, err := sb.host.Addr(ctx, id); !errors.Is(err, want) {
			t.Errorf("Addr(%s) = %v, want %v", id, err, want)
		}
	}
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.host.Addr(ctx, hostAL); !errors.Is(err, ErrHostsClosed) {
		t.Errorf("Addr after Close = %v, want ErrHostsClosed", err)
	}
}

// syncBuffer collects PTY output for waitFor.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls until re matches the output or ctx ends.
func waitFor(ctx context.Context, t *testing.T, b *syncBuffer, re *regexp.Regexp) {
	t.Helper()
	for !re.MatchString(b.String()) {
		select {
		case <-ctx.Done():
			t.Fatalf("output never matched %s; got %q", re, b.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestPTYShellWindowChange(t *testing.T) {
	sb := startHostsSandbox(t, Options{})
	c := loginEIC(t, sb, hostAL, "ec2-user")
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.RequestPty("xterm-256color", 40, 100, ssh.TerminalModes{}); err != nil {
		t.Fatalf("pty-req: %v", err)
	}
	in, err := s.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	s.Stdout = out
	if err := s.Shell(); err != nil {
		t.Fatalf("shell: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Markers are computed by the shell so the echo of the typed line never
	// matches.
	fmt.Fprint(in, "echo size=$(stty size) term=$TERM tty=$(tty >/dev/null && echo yes) id=$SSMTUI_INSTANCE_ID.\n")
	waitFor(ctx, t, out, regexp.MustCompile(`size=40 100 term=xterm-256color tty=yes id=`+hostAL+`\.`))
	if err := s.WindowChange(50, 132); err != nil {
		t.Fatalf("window-change: %v", err)
	}
	fmt.Fprint(in, "echo resized=$(stty size).\n")
	waitFor(ctx, t, out, regexp.MustCompile(`resized=50 132\.`))
	if filepath.Base(sb.host.shell()) == "bash" {
		// The instance's .bashrc names the user and the instance.
		waitFor(ctx, t, out, regexp.MustCompile(`ec2-user@web-1:[^\r\n]*[$#] `))
	}
	fmt.Fprint(in, "exit 5\n")
	if got := exitStatus(t, s.Wait()); got != 5 {
		t.Errorf("exit status %d, want 5", got)
	}
}

func TestSFTPRoundTrip(t *testing.T) {
	sb := startHostsSandbox(t, Options{})
	c := loginEIC(t, sb, hostUbuntu, "ubuntu")
	fc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatalf("sftp subsystem: %v", err)
	}
	defer fc.Close()

	data := make([]byte, 3<<20+17)
	_, _ = rand.Read(data)
	f, err := fc.Create("upload.bin")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
		t.Fatalf("put: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	g, err := fc.Open("upload.bin")
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	got, err := io.ReadAll(g)
	_ = g.Close()
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("get returned %d bytes differing from the %d put", len(got), len(data))
	}

	// Relative paths are rooted in the instance's directory, which is the
	// shell's working directory: the shell sees the same file.
	wd, err := fc.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, c, "pwd; wc -c < upload.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s\n%d\n", wd, len(data))
	if strings.Join(strings.Fields(out), "\n")+"\n" != want {
		t.Errorf("shell sees %q, want %q", out, want)
	}
}

// processGone waits until pid no longer exists (the host reaps it).
func processGone(ctx context.Context, t *testing.T, pid int) {
	t.Helper()
	for syscall.Kill(pid, 0) == nil {
		select {
		case <-ctx.Done():
			t.Fatalf("process %d still runs", pid)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// startSleeper runs a shell that prints its PID and sleeps, on a PTY or not.
func startSleeper(t *testing.T, c *ssh.Client, withPTY bool) (*ssh.Session, int) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if withPTY {
		if err := s.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
			t.Fatal(err)
		}
	}
	out := &syncBuffer{}
	s.Stdout = out
	if err := s.Start("echo pid=$$.; sleep 1000; echo after"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	re := regexp.MustCompile(`pid=(\d+)\.`)
	waitFor(ctx, t, out, re)
	pid, _ := strconv.Atoi(re.FindStringSubmatch(out.String())[1])
	return s, pid
}

func TestChannelCloseKillsProcessGroup(t *testing.T) {
	sb := startHostsSandbox(t, Options{})
	c := loginEIC(t, sb, hostAL, "ec2-user")
	for _, withPTY := range []bool{false, true} {
		t.Run(fmt.Sprintf("pty=%v", withPTY), func(t *testing.T) {
			s, pid := startSleeper(t, c, withPTY)
			if err := s.Close(); err != nil {
				t.Fatalf("close session: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			processGone(ctx, t, pid)
		})
	}
}

func TestCloseEndsSessions(t *testing.T) {
	sb := startHostsSandbox(t, Options{})
	c := loginEIC(t, sb, hostAL, "ec2-user")
	s, pid := startSleeper(t, c, true)
	addr, err := sb.HostAddr(context.Background(), hostAL)
	if err != nil {
		t.Fatal(err)
	}
	dir := sb.host.dir
	if err := sb.Close(); err != nil {
		t.Fatalf("close sandbox: %v", err)
	}
	if err := s.Wait(); err == nil {
		t.Error("session ended cleanly after the sandbox closed, want an error")
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("process %d outlived the sandbox", pid)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("hosts directory %s still exists after Close: %v", dir, err)
	}
	if conn, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		_ = conn.Close()
		t.Errorf("host %s still accepts connections after Close", addr)
	}
}

// Each instance has its own home directory, and HostOptions.Shell picks
// the shell.
func TestPerInstanceDirAndShell(t *testing.T) {
	sb := startHostsSandbox(t, Options{Hosts: HostOptions{Shell: "/bin/sh"}})
	signer, line := newEd25519(t)
	eic := eicClient(t, sb, hostsRegion)
	pushKey(t, eic, hostAL, "ec2-user", line)
	pushKey(t, eic, hostUbuntu, "ubuntu", line)
	al, err := dialHost(t, sb, hostAL, "ec2-user", signer)
	if err != nil {
		t.Fatal(err)
	}
	ub, err := dialHost(t, sb, hostUbuntu, "ubuntu", signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, al, "echo mine > note.txt", ""); err != nil {
		t.Fatal(err)
	}
	if out, _, err := run(t, al, "cat note.txt; echo $SHELL", ""); err != nil || out != "mine\n/bin/sh\n" {
		t.Errorf("on %s: %q, %v; want the note and /bin/sh", hostAL, out, err)
	}
	_, _, err = run(t, ub, "test -e note.txt", "")
	if got := exitStatus(t, err); got != 1 {
		t.Errorf("note.txt visible on %s (test -e status %d)", hostUbuntu, got)
	}
}

func TestWriteShellRC(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".zshrc"), []byte("# mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeShellRC(dir, hostAL, "web-1"); err != nil {
		t.Fatal(err)
	}
	bashrc, err := os.ReadFile(filepath.Join(dir, ".bashrc"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(bashrc), "PS1='$USER@web-1:\\w\\$ '\n") {
		t.Errorf(".bashrc = %q", bashrc)
	}
	zshrc, err := os.ReadFile(filepath.Join(dir, ".zshrc"))
	if err != nil || string(zshrc) != "# mine\n" {
		t.Errorf("existing .zshrc replaced: %q, %v", zshrc, err)
	}
	other := t.TempDir()
	if err := writeShellRC(other, hostAL, "web-1"); err != nil {
		t.Fatal(err)
	}
	zshrc, err = os.ReadFile(filepath.Join(other, ".zshrc"))
	if err != nil || !strings.HasSuffix(string(zshrc), "PROMPT=\"${USER}@web-1:%~%# \"\n") {
		t.Errorf(".zshrc = %q, %v", zshrc, err)
	}
}
