package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/ssmtui/ssmtui/inventory"
	"github.com/ssmtui/ssmtui/sandbox"
	"github.com/ssmtui/ssmtui/session"
	"github.com/ssmtui/ssmtui/sshclient"
)

// countingTransport counts AWS API calls (HTTP requests).
type countingTransport struct {
	next  http.RoundTripper
	calls atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	return c.next.RoundTrip(r)
}

// turnConn counts the SSH-level round trips over the SSM connection: each
// time the client reads after having written since its previous read, it
// waited for the server once.
type turnConn struct {
	net.Conn
	mu      sync.Mutex
	wrote   bool
	turns   int
	in, out int
}

func (c *turnConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.out += n
	c.wrote = true
	c.mu.Unlock()
	return n, err
}

func (c *turnConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.in += n
	if n > 0 && c.wrote {
		c.turns++
		c.wrote = false
	}
	c.mu.Unlock()
	return n, err
}

// BenchmarkConnect times the connect path from StartSession to an
// authenticated SSH client with a session channel open (the moment a shell
// could start), against the sandbox with 0 and 20 ms one-way latency
// (gateway frames both ways; API calls get 40 ms, a round trip). Metrics
// per connect: api_calls (HTTP requests: StartSession, SendSSHPublicKey),
// ssm_msgs_out/ssm_msgs_in (data-channel stream messages before the session
// was ready, acks not counted), ssm_ready_ms (StartSession to data channel
// ready), ssh_ready_ms (from there to the open session channel), ssh_rtts (SSH round trips: handshake, auth,
// channel open), ssh_bytes.
//
//	go test -run '^$' -bench BenchmarkConnect -benchtime 20x ./cmd/ssmtui
func BenchmarkConnect(b *testing.B) {
	for _, oneWay := range []time.Duration{0, 20 * time.Millisecond} {
		b.Run(fmt.Sprintf("oneway=%s", oneWay), func(b *testing.B) {
			benchConnect(b, oneWay)
		})
	}
}

func benchConnect(b *testing.B, oneWay time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	sb, err := sandbox.Start(ctx, sandbox.Options{
		Fleet:   cxFleet(),
		Gateway: sandbox.GatewayOptions{Faults: sandbox.FaultOptions{LatencyToAgent: oneWay, LatencyToClient: oneWay}},
		Limits:  sandbox.LimitOptions{Latency: 2 * oneWay},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	ct := &countingTransport{next: http.DefaultTransport.(*http.Transport).Clone()}
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cxAKID, "cx-secret", "")),
		config.WithBaseEndpoint(sb.URL()),
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	)
	if err != nil {
		b.Fatal(err)
	}
	cfg.HTTPClient = &http.Client{Transport: ct}
	hk, err := sshclient.OpenHostKeys(b.TempDir() + "/known_hosts")
	if err != nil {
		b.Fatal(err)
	}
	key, err := sb.HostPublicKey(cxWeb)
	if err != nil {
		b.Fatal(err)
	}
	if err := hk.Add(cxWeb, key); err != nil {
		b.Fatal(err)
	}
	inst := inventory.Instance{ID: cxWeb, Name: "web", Region: "us-east-1", Profile: cxProfile, PlatformName: "Amazon Linux"}

	var apiCalls, msgsOut, msgsIn, rtts, sshBytes int64
	var dialTime, sshTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var tc *turnConn
		var ready session.StreamStats
		var dialed time.Time
		start := time.Now()
		d := &sshDialer{
			loadConfig: func(context.Context, string) (aws.Config, error) { return cfg, nil },
			hostKeys:   hk,
			log:        slog.New(slog.DiscardHandler),
			user:       "ec2-user",
			wrapConn: func(c *session.Conn) net.Conn {
				dialed = time.Now()
				ready = c.Stats()
				tc = &turnConn{Conn: c}
				return tc
			},
		}
		d.dial.PingInterval = -1
		if os.Getenv("CX_BENCH_DEBUG") != "" {
			d.dial.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		before := ct.calls.Load()
		client, err := d.connectSSHWith(ctx, cfg, inst, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		sess, err := client.SSH().NewSession()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		dialTime += dialed.Sub(start)
		sshTime += time.Since(dialed)
		apiCalls += ct.calls.Load() - before
		msgsOut += ready.NextSeq
		msgsIn += ready.Expected
		tc.mu.Lock()
		rtts += int64(tc.turns)
		sshBytes += int64(tc.in + tc.out)
		tc.mu.Unlock()
		_ = sess.Close()
		_ = client.Close()
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(apiCalls)/n, "api_calls/op")
	b.ReportMetric(float64(msgsOut)/n, "ssm_msgs_out/op")
	b.ReportMetric(float64(msgsIn)/n, "ssm_msgs_in/op")
	b.ReportMetric(float64(rtts)/n, "ssh_rtts/op")
	b.ReportMetric(float64(sshBytes)/n, "ssh_bytes/op")
	b.ReportMetric(float64(dialTime.Milliseconds())/n, "ssm_ready_ms/op")
	b.ReportMetric(float64(sshTime.Milliseconds())/n, "ssh_ready_ms/op")
}
