//go:build unix

package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// benchClient connects to hostAL with an authorized key (no API involved).
func benchClient(b *testing.B) *ssh.Client {
	b.Helper()
	signer, line := newEd25519(b)
	path := filepath.Join(b.TempDir(), "authorized_keys")
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sb, err := Start(ctx, Options{Fleet: hostsTestFleet(), Hosts: HostOptions{AuthorizedKeysFile: path}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sb.Close() })
	addr, err := sb.HostAddr(ctx, hostAL)
	if err != nil {
		b.Fatal(err)
	}
	hk, err := sb.HostPublicKey(hostAL)
	if err != nil {
		b.Fatal(err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, hostAL+":22", &ssh.ClientConfig{
		User: "ec2-user", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: ssh.FixedHostKey(hk),
	})
	if err != nil {
		b.Fatal(err)
	}
	client := ssh.NewClient(c, chans, reqs)
	b.Cleanup(func() { _ = client.Close() })
	return client
}

// BenchmarkHostExec measures one exec round trip: session open, exec of
// the shell's `true`, exit status, close.
func BenchmarkHostExec(b *testing.B) {
	c := benchClient(b)
	for b.Loop() {
		s, err := c.NewSession()
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Run("true"); err != nil {
			b.Fatal(err)
		}
		_ = s.Close()
	}
}

// BenchmarkHostSFTP measures sftp put+get of 8 MiB through the host
// (bytes counted once per direction).
func BenchmarkHostSFTP(b *testing.B) {
	c := benchClient(b)
	fc, err := sftp.NewClient(c, sftp.UseConcurrentWrites(true))
	if err != nil {
		b.Fatal(err)
	}
	defer fc.Close()
	data := make([]byte, 8<<20)
	_, _ = rand.Read(data)
	b.SetBytes(int64(2 * len(data)))
	for b.Loop() {
		f, err := fc.Create("bench.bin")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		_ = f.Close()
		g, err := fc.Open("bench.bin")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, g)
		_ = g.Close()
		if err != nil || n != int64(len(data)) {
			b.Fatalf("get: %d bytes, %v", n, err)
		}
	}
}
