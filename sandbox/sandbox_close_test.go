package sandbox

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// TestCloseDoesNotWaitForIdleClients: a client holding an idle keep-alive
// connection and another holding a connection it never sent a request on
// (what an HTTP client's lost dial race leaves behind) do not hold Close up:
// Shutdown finds the server quiescent without running out its grace, and
// both connections are closed. A call in flight still gets its answer.
func TestCloseDoesNotWaitForIdleClients(t *testing.T) {
	f := GenerateFleet(GenOptions{Instances: 3, Regions: []string{"eu-west-1"}, Seed: 3})
	f.Accounts[0].Regions = []string{"eu-west-1", "us-east-1"}
	sb := startInv(t, f, LimitOptions{RegionLatency: map[string]time.Duration{"us-east-1": 300 * time.Millisecond}})
	// Shorter than the 5 s after which http.Server counts a connection
	// without a request as idle, so a Close that waited for one would run
	// out of grace.
	sb.closeGrace = 3 * time.Second
	ctx := testCtx(t)

	raw, err := net.Dial("tcp", sb.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// Served in accept order: once this call is answered, raw is tracked.
	idle := ssm.NewFromConfig(sdkConfig(t, sb, &f.Accounts[0], "eu-west-1", 1))
	if _, err := idle.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{}); err != nil {
		t.Fatal(err)
	}

	// A slow call (300 ms of latency) in flight when Close starts.
	slow := ssm.NewFromConfig(sdkConfig(t, sb, &f.Accounts[0], "us-east-1", 1))
	slowErr := make(chan error, 1)
	go func() {
		_, err := slow.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
		slowErr <- err
	}()
	for sb.Stats().Calls["ssm.DescribeInstanceInformation"] < 2 {
		if ctx.Err() != nil {
			t.Fatal("slow call never reached the sandbox")
		}
		time.Sleep(time.Millisecond)
	}

	closed := make(chan error, 1)
	go func() { closed <- sb.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Close hung")
	}
	if sb.forcedClose {
		t.Fatal("Close ran out of its grace waiting on idle clients")
	}
	if err := <-slowErr; err != nil {
		t.Fatalf("call in flight during Close: %v", err)
	}
	_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := raw.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("connection without a request after Close: read = %v, want EOF", err)
	}
}

func isReset(err error) bool {
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}
