package sandbox_test

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/ssmtui/ssmtui/sandbox"
	"github.com/ssmtui/ssmtui/session"
)

// BenchmarkGatewayEcho measures a stdio port session (session.Dial →
// gateway relay → built-in agent → loopback echo server) moving 4 MiB each
// way per op, with the agent's pacing off and real. SetBytes counts both
// directions.
func BenchmarkGatewayEcho(b *testing.B) {
	for _, pacing := range []sandbox.Pacing{sandbox.PacingNone, sandbox.PacingReal} {
		b.Run("pacing="+string(pacing), func(b *testing.B) {
			sb := startSandbox(b, sandbox.Options{Gateway: sandbox.GatewayOptions{AgentPacing: pacing}})
			cfg := awsConfig(b, sb.URL())
			ctx := testContext(b, 10*time.Minute)
			port := echoServer(b)
			conn, err := session.Dial(ctx, cfg, instOnline, session.DialOptions{DocumentName: "AWS-StartSSHSession",
				Parameters: map[string][]string{"portNumber": {strconv.Itoa(port)}}})
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			const size = 4 << 20
			data := bytes.Repeat([]byte("sandbox!"), size/8)
			got := make([]byte, size)
			b.SetBytes(2 * size)
			b.ResetTimer()
			for range b.N {
				werr := make(chan error, 1)
				go func() { _, err := conn.Write(data); werr <- err }()
				if _, err := io.ReadFull(conn, got); err != nil {
					b.Fatal(err)
				}
				if err := <-werr; err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if !bytes.Equal(got, data) {
				b.Fatal("echo differs")
			}
		})
	}
}

// BenchmarkGatewayDownload measures agent→client only: a loopback server
// sends 4 MiB for every byte it reads. With pacing=real the figure to
// compare is the real agent's nominal limit, 1024 B/ms ≈ 1.02 MB/s.
func BenchmarkGatewayDownload(b *testing.B) {
	for _, pacing := range []sandbox.Pacing{sandbox.PacingNone, sandbox.PacingReal} {
		b.Run("pacing="+string(pacing), func(b *testing.B) {
			const size = 4 << 20
			block := bytes.Repeat([]byte("download"), size/8)
			port := tcpServer(b, func(c net.Conn) {
				one := make([]byte, 1)
				for {
					if _, err := c.Read(one); err != nil {
						return
					}
					if _, err := c.Write(block); err != nil {
						return
					}
				}
			})
			sb := startSandbox(b, sandbox.Options{Gateway: sandbox.GatewayOptions{AgentPacing: pacing}})
			cfg := awsConfig(b, sb.URL())
			ctx := testContext(b, 10*time.Minute)
			conn, err := session.Dial(ctx, cfg, instOnline, session.DialOptions{DocumentName: "AWS-StartSSHSession",
				Parameters: map[string][]string{"portNumber": {strconv.Itoa(port)}}})
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			got := make([]byte, size)
			b.SetBytes(size)
			b.ResetTimer()
			for range b.N {
				if _, err := conn.Write([]byte{1}); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(conn, got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
