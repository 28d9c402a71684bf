package sandbox_test

import (
	"bytes"
	"io"
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
