package sandbox

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// TestZeroLatencyStress: 2,000 SDK calls (1,000 sequential, 1,000 over 8
// goroutines) against a sandbox that answers at once all succeed. SSM answers
// are bigger than net/http's 4 KiB buffers so a connection closed under a
// response fails the read (an unwrapped SDK client loses about 1 call in
// 200 here; see internal/sdkhttp).
func TestZeroLatencyStress(t *testing.T) {
	f := GenerateFleet(GenOptions{Instances: 20, Regions: []string{"eu-west-1"}, Seed: 7})
	sb := startInv(t, f, LimitOptions{})
	ctx := testCtx(t)
	cfg := sdkConfig(t, sb, &f.Accounts[0], "eu-west-1", 1)
	sc, ec := ssm.NewFromConfig(cfg), ec2.NewFromConfig(cfg)
	call := func(ctx context.Context, i int) error {
		if i%4 != 3 {
			out, err := sc.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(20)})
			if err == nil && len(out.InstanceInformationList) != 20 {
				err = fmt.Errorf("got %d nodes, want 20", len(out.InstanceInformationList))
			}
			return err
		}
		out, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
		if err == nil && len(out.Reservations) == 0 {
			err = fmt.Errorf("no reservations")
		}
		return err
	}
	var failed atomic.Int32
	fail := func(what string, i int, err error) {
		if failed.Add(1) <= 5 {
			t.Errorf("%s call %d: %v", what, i, err)
		}
	}
	for i := range 1000 {
		if err := call(ctx, i); err != nil {
			fail("sequential", i, err)
		}
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 125 {
				if err := call(ctx, w+i); err != nil {
					fail("concurrent", w*125+i, err)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of 2000 calls failed", n)
	}
	st := sb.Stats()
	if got := st.Calls["ssm.DescribeInstanceInformation"] + st.Calls["ec2.DescribeInstances"]; got != 2000 {
		t.Fatalf("sandbox saw %d calls, want 2000", got)
	}
}
