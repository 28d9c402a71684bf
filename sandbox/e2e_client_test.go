package sandbox_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"golang.org/x/crypto/ssh"

	"github.com/ssmtui/ssmtui/sandbox"
	"github.com/ssmtui/ssmtui/session"
)

// These tests run the product's own client (package session) against the
// sandbox gateway and built-in agent.

func TestClientDialSSH(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	cfg := awsConfig(t, sb.URL())
	ctx := testContext(t, 60*time.Second)
	pub, priv, _ := ed25519.GenerateKey(crand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	sshPub, _ := ssh.NewPublicKey(pub)
	if _, err := ec2instanceconnect.NewFromConfig(cfg).SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{
		InstanceId: aws.String(instOnline), InstanceOSUser: aws.String("ec2-user"),
		SSHPublicKey: aws.String(string(ssh.MarshalAuthorizedKey(sshPub))),
	}); err != nil {
		t.Fatal(err)
	}
	hostKey, _ := sb.HostPublicKey(instOnline)
	conn, err := session.Dial(ctx, cfg, instOnline, session.DialOptions{})
	if err != nil {
		t.Fatalf("session.Dial: %v", err)
	}
	id := conn.SessionID()
	sc, chans, reqs, err := ssh.NewClientConn(conn, instOnline+":22", &ssh.ClientConfig{
		User: "ec2-user", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: ssh.FixedHostKey(hostKey),
	})
	if err != nil {
		t.Fatalf("ssh over session.Conn: %v", err)
	}
	client := ssh.NewClient(sc, chans, reqs)
	s, _ := client.NewSession()
	out, err := s.CombinedOutput("printf '%s' \"$SSMTUI_INSTANCE_ID\"; exit 7")
	var ee *ssh.ExitError
	if string(out) != instOnline || !errors.As(err, &ee) || ee.ExitStatus() != 7 {
		t.Fatalf("exec: %q %v", out, err)
	}
	_ = client.Close()
	end, err := sb.WaitSessionEnd(ctx, id)
	if err != nil || end.Status != "Terminated" {
		t.Fatalf("session after Close: %+v %v", end, err)
	}
}

// TestClientResumeAfterKill: the session client resumes a killed socket
// transparently; 2 MiB echo through the stdio session stays byte-exact.
func TestClientResumeAfterKill(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Gateway: sandbox.GatewayOptions{NewCellOnResume: true}})
	cfg := awsConfig(t, sb.URL())
	ctx := testContext(t, 90*time.Second)
	port := echoServer(t)
	conn, err := session.Dial(ctx, cfg, instOnline, session.DialOptions{DocumentName: "AWS-StartSSHSession",
		Parameters: map[string][]string{"portNumber": {strconv.Itoa(port)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	data := make([]byte, 2<<20)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	go func() { _, _ = conn.Write(data) }()
	got := make([]byte, 0, len(data))
	buf := make([]byte, 32<<10)
	killed := false
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	for len(got) < len(data) {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(got), err)
		}
		if !killed && len(got) > len(data)/2 {
			if err := sb.KillClient(conn.SessionID()); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatal("echo differs after resume")
	}
	if info, _ := sb.Session(conn.SessionID()); info.Opens < 2 {
		t.Fatalf("no resume seen by the gateway: %+v", info)
	}
}

func TestClientPortForward(t *testing.T) {
	for _, tc := range []struct {
		agentVersion string
		mode         session.PortMode
		streams      int
	}{
		{sandbox.DefaultAgentVersion, session.PortModeMux, 8},
		{"3.1.1511.0", session.PortModeMux, 3}, // keepalive on at both ends
		{"3.0.196.0", session.PortModeBasic, 1},
	} {
		t.Run(tc.agentVersion, func(t *testing.T) {
			sb := startSandbox(t, sandbox.Options{Gateway: sandbox.GatewayOptions{AgentVersion: tc.agentVersion}})
			cfg := awsConfig(t, sb.URL())
			ctx := testContext(t, 60*time.Second)
			port := echoServer(t)
			ps, err := session.OpenPortForward(ctx, cfg, instOnline, session.PortForwardOptions{PortNumber: port})
			if err != nil {
				t.Fatal(err)
			}
			defer ps.Close()
			if ps.Mode() != tc.mode {
				t.Fatalf("mode %v, want %v", ps.Mode(), tc.mode)
			}
			var wg sync.WaitGroup
			errs := make(chan error, tc.streams)
			for i := range tc.streams {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- echoOnce(ctx, ps, 100<<10+i)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if tc.mode == session.PortModeBasic {
				// Basic mode: a second connection after the first ended.
				if err := echoOnce(ctx, ps, 5000); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func echoOnce(ctx context.Context, ps *session.PortSession, n int) error {
	c, err := ps.DialStream(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i * 7)
	}
	go func() { _, _ = c.Write(data) }()
	got := make([]byte, n)
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("echo %d bytes: %w", n, err)
	}
	if !bytes.Equal(got, data) {
		return errors.New("echo differs")
	}
	return nil
}

// TestClientPortForwardUnreachable: a stream to a port nobody listens on
// fails with the agent's ConnectToPortError; the session stays usable.
func TestClientPortForwardUnreachable(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	cfg := awsConfig(t, sb.URL())
	ctx := testContext(t, 30*time.Second)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	ps, err := session.OpenPortForward(ctx, cfg, instOnline, session.PortForwardOptions{PortNumber: dead})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	c, err := ps.DialStream(ctx)
	if err == nil {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stream to a closed port: %v", err)
	}
	select {
	case <-ps.Done():
		t.Fatalf("session ended: %v", ps.Err())
	default:
	}
}

func TestClientShell(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Gateway: sandbox.GatewayOptions{Shell: "/bin/sh"}})
	cfg := awsConfig(t, sb.URL())
	ctx := testContext(t, 60*time.Second)
	sh, err := session.OpenShell(ctx, cfg, instOnline, session.ShellOptions{Cols: 90, Rows: 33})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	var mu sync.Mutex
	var screen bytes.Buffer
	readDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(lockedWriter{&mu, &screen}, sh)
		readDone <- err
	}()
	wait := func(re string) {
		t.Helper()
		rx := regexp.MustCompile(re)
		for ctx.Err() == nil {
			mu.Lock()
			ok := rx.Match(screen.Bytes())
			mu.Unlock()
			if ok {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("never saw %s: %q", re, screen.String())
	}
	_, _ = sh.Write([]byte("stty size\r"))
	wait(`33 90\r?\n`)
	if err := sh.Resize(ctx, 120, 40); err != nil {
		t.Fatal(err)
	}
	_, _ = sh.Write([]byte("stty size; echo héllo wörld\r"))
	wait(`40 120\r?\nhéllo wörld`)
	_, _ = sh.Write([]byte("exit\r"))
	select {
	case err := <-readDone:
		if err != nil {
			t.Fatalf("shell read end: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("shell did not end")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
