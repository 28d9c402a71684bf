package sshclient

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// testServer is an in-process SSH server on loopback TCP (never net.Pipe:
// both peers write their version line first and deadlock). It authorizes
// public keys per user, records what clients offered and asked for, and runs
// a tiny scripted shell and exec.
type testServer struct {
	t    testing.TB
	ln   net.Listener
	conf *ssh.ServerConfig
	keys []ssh.Signer // host keys

	mu         sync.Mutex
	authorized map[string]map[string]bool // user → marshalled public key
	offered    []string                   // "user fingerprint" per PublicKeyCallback
	ptyReqs    []ptyReq
	winChanges [][2]int // w, h
	env        map[string]string
	input      strings.Builder // bytes received on shell stdin

	ignoreKeepalive atomic.Bool
	keepalives      atomic.Int32
	wg              sync.WaitGroup
}

type ptyReq struct {
	Term string
	W, H int
}

func newSigner(t testing.TB, typ string) ssh.Signer {
	t.Helper()
	var key any
	var err error
	switch typ {
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("unknown key type %s", typ)
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startServer runs a server with the given host key types (default ed25519).
func startServer(t testing.TB, hostKeyTypes ...string) *testServer {
	t.Helper()
	if len(hostKeyTypes) == 0 {
		hostKeyTypes = []string{"ed25519"}
	}
	s := &testServer{t: t, authorized: map[string]map[string]bool{}, env: map[string]string{}}
	s.conf = &ssh.ServerConfig{
		MaxAuthTries: 6,
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.offered = append(s.offered, c.User()+" "+ssh.FingerprintSHA256(key))
			if s.authorized[c.User()][string(key.Marshal())] {
				return nil, nil
			}
			return nil, fmt.Errorf("key not authorized for %s", c.User())
		},
	}
	for _, typ := range hostKeyTypes {
		k := newSigner(t, typ)
		s.keys = append(s.keys, k)
		s.conf.AddHostKey(k)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *testServer) authorize(user string, key ssh.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.authorized[user] == nil {
		s.authorized[user] = map[string]bool{}
	}
	s.authorized[user][string(key.Marshal())] = true
}

func (s *testServer) offeredKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.offered...)
}

func (s *testServer) dial(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *testServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handleConn(c)
		}()
	}
}

func (s *testServer) handleConn(c net.Conn) {
	defer c.Close()
	sc, chans, reqs, err := ssh.NewServerConn(c, s.conf)
	if err != nil {
		return
	}
	defer sc.Close()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for r := range reqs {
			if r.Type == "keepalive@openssh.com" {
				s.keepalives.Add(1)
				if s.ignoreKeepalive.Load() {
					continue // never answer: the client must give up on its own
				}
			}
			if r.WantReply {
				_ = r.Reply(false, nil) // a failure reply still proves liveness
			}
		}
	}()
	var wg sync.WaitGroup
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handleSession(ch, creqs)
		}()
	}
	wg.Wait()
}

func (s *testServer) handleSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	started := make(chan string, 1)
	go func() {
		for r := range reqs {
			ok := true
			switch r.Type {
			case "env":
				var kv struct{ Name, Value string }
				if ssh.Unmarshal(r.Payload, &kv) == nil {
					s.mu.Lock()
					s.env[kv.Name] = kv.Value
					s.mu.Unlock()
				}
			case "pty-req":
				var p struct {
					Term         string
					W, H, PW, PH uint32
					Modes        string
				}
				if ssh.Unmarshal(r.Payload, &p) == nil {
					s.mu.Lock()
					s.ptyReqs = append(s.ptyReqs, ptyReq{p.Term, int(p.W), int(p.H)})
					s.mu.Unlock()
				}
			case "window-change":
				var p struct{ W, H, PW, PH uint32 }
				if ssh.Unmarshal(r.Payload, &p) == nil {
					s.mu.Lock()
					s.winChanges = append(s.winChanges, [2]int{int(p.W), int(p.H)})
					s.mu.Unlock()
				}
			case "shell", "exec":
				// Reply before starting: the program may close the
				// channel before a later reply could be sent.
				var p struct{ Command string }
				if r.Type == "exec" {
					_ = ssh.Unmarshal(r.Payload, &p)
				}
				if r.WantReply {
					_ = r.Reply(true, nil)
				}
				started <- p.Command
				continue
			default:
				ok = false
			}
			if r.WantReply {
				_ = r.Reply(ok, nil)
			}
		}
	}()
	cmd, ok := <-started
	if !ok {
		return
	}
	if cmd == "" {
		s.shell(ch)
		return
	}
	s.exec(ch, cmd)
}

func exitStatus(ch ssh.Channel, code int) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(code))
	_, _ = ch.SendRequest("exit-status", false, b[:])
}

// shell echoes its input; a line "exit N" ends it with status N, a line
// "hang" makes it stop reading and never end.
func (s *testServer) shell(ch ssh.Channel) {
	r := bufio.NewReader(ch)
	var line []byte
	for {
		b, err := r.ReadByte()
		if err != nil {
			exitStatus(ch, 0)
			return
		}
		s.mu.Lock()
		s.input.WriteByte(b)
		s.mu.Unlock()
		_, _ = ch.Write([]byte{b})
		if b != '\r' && b != '\n' {
			line = append(line, b)
			continue
		}
		cmd := string(line)
		line = line[:0]
		switch {
		case strings.HasPrefix(cmd, "exit "):
			n, _ := strconv.Atoi(strings.TrimPrefix(cmd, "exit "))
			exitStatus(ch, n)
			return
		case cmd == "hang":
			_, _ = io.Copy(io.Discard, ch) // never ends on its own; the client must close
			return
		}
	}
}

// exec runs: "exit N", "signal NAME", "cat" (stdin to stdout, then exit 0),
// "echo TEXT" (TEXT to stdout, "err" to stderr), "quiet" (no status).
func (s *testServer) exec(ch ssh.Channel, cmd string) {
	name, arg, _ := strings.Cut(cmd, " ")
	switch name {
	case "exit":
		n, _ := strconv.Atoi(arg)
		exitStatus(ch, n)
	case "signal":
		_, _ = ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}{Signal: arg}))
	case "cat":
		_, _ = io.Copy(ch, ch)
		exitStatus(ch, 0)
	case "echo":
		_, _ = io.WriteString(ch, arg)
		_, _ = io.WriteString(ch.Stderr(), "err")
		exitStatus(ch, 0)
	case "quiet":
	default:
		exitStatus(ch, 127)
	}
}

// testEnv is a temporary HOME with an empty known_hosts and no agent.
type testEnv struct {
	home  string
	hosts *HostKeys
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	home := t.TempDir()
	hk, err := OpenHostKeys(filepath.Join(home, "config", "ssmtui", "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{home: home, hosts: hk}
}

// config returns a Config that never touches the developer's ~/.ssh or agent.
func (e *testEnv) config(id string) Config {
	return Config{
		InstanceID:       id,
		HostKeys:         e.hosts,
		AcceptNewHostKey: true,
		NoAgent:          true,
		HomeDir:          e.home,
		HandshakeTimeout: 20 * time.Second,
	}
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// connect dials srv and runs Connect; the client is closed at cleanup.
func connect(t testing.TB, srv *testServer, cfg Config) (*Client, error) {
	t.Helper()
	c, err := Connect(testContext(t), srv.dial(t), cfg)
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

// writeKey stores key's private half at path (OpenSSH format, encrypted when
// passphrase is set) and its public half at path.pub unless noPub.
func writeKey(t testing.TB, path string, key ed25519.PrivateKey, passphrase string, noPub bool) {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase != "" {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(key, "test", []byte(passphrase))
	} else {
		block, err = ssh.MarshalPrivateKey(key, "test")
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if noPub {
		return
	}
	pub, err := ssh.NewPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(pub), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newEd25519(t testing.TB) (ed25519.PrivateKey, ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}
