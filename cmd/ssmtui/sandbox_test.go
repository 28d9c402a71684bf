package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// TestSandboxCommand runs `ssmtui sandbox` in-process, waits for
// "# sandbox ready", and uses the printed environment with the real SDK
// (plain and TLS endpoints). Cancelling the context stops it cleanly.
func TestSandboxCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	env := &cliEnv{stdin: strings.NewReader(""), stdout: pw, stderr: &stderr, getenv: func(string) string { return "" }}
	code := make(chan int, 1)
	go func() {
		code <- runMain(runCtx, env, []string{"sandbox", "--agent-pacing", "real", "--duplicate", "0.01", "--seed", "3"})
		pw.Close()
	}()

	vars := map[string]string{}
	sc := bufio.NewScanner(pr)
	ready := false
	for sc.Scan() {
		line := sc.Text()
		if line == "# sandbox ready" {
			ready = true
			break
		}
		kv, ok := strings.CutPrefix(line, "export ")
		if !ok {
			t.Fatalf("unexpected stdout line %q", line)
		}
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = strings.Trim(v, "'")
	}
	if !ready {
		t.Fatalf("no ready line; stderr: %s", stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EC2_METADATA_DISABLED", "AWS_CA_BUNDLE", "SSMTUI_SANDBOX_TLS_URL"} {
		if vars[k] == "" {
			t.Fatalf("%s missing from %v", k, vars)
		}
	}
	if !strings.HasPrefix(vars["AWS_ENDPOINT_URL"], "http://127.0.0.1:") || !strings.HasPrefix(vars["SSMTUI_SANDBOX_TLS_URL"], "https://127.0.0.1:") {
		t.Fatalf("endpoints not loopback: %v", vars)
	}
	if stderr.Len() != 0 {
		t.Fatalf("stderr without --debug: %q", stderr.String())
	}
	caFile := vars["AWS_CA_BUNDLE"]
	ca, err := os.ReadFile(caFile)
	if err != nil || !bytes.Contains(ca, []byte("BEGIN CERTIFICATE")) {
		t.Fatalf("CA file: %v", err)
	}

	for _, endpoint := range []string{vars["AWS_ENDPOINT_URL"], vars["SSMTUI_SANDBOX_TLS_URL"]} {
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		cfg, err := config.LoadDefaultConfig(ctx,
			config.WithRegion(vars["AWS_REGION"]),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(vars["AWS_ACCESS_KEY_ID"], vars["AWS_SECRET_ACCESS_KEY"], "")),
			config.WithBaseEndpoint(endpoint),
			config.WithCustomCABundle(bytes.NewReader(ca)),
			config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
			config.WithSharedConfigFiles([]string{}),
			config.WithSharedCredentialsFiles([]string{}),
			config.WithRetryMaxAttempts(1),
		)
		if err != nil {
			t.Fatal(err)
		}
		api := ssm.NewFromConfig(cfg)
		info, err := api.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(50)})
		if err != nil || len(info.InstanceInformationList) == 0 {
			t.Fatalf("%s: DescribeInstanceInformation: %v", endpoint, err)
		}
		var target string
		for _, ii := range info.InstanceInformationList {
			if ii.PingStatus == types.PingStatusOnline && ii.PlatformType == types.PlatformTypeLinux {
				target = aws.ToString(ii.InstanceId)
				break
			}
		}
		out, err := api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(target), DocumentName: aws.String("AWS-StartSSHSession")})
		if err != nil {
			t.Fatalf("%s: StartSession %s: %v", endpoint, target, err)
		}
		wantScheme := "ws://"
		if strings.HasPrefix(endpoint, "https") {
			wantScheme = "wss://"
		}
		if !strings.HasPrefix(aws.ToString(out.StreamUrl), wantScheme+"127.0.0.1:") {
			t.Fatalf("StreamUrl %q", aws.ToString(out.StreamUrl))
		}
		if _, err := api.TerminateSession(ctx, &ssm.TerminateSessionInput{SessionId: out.SessionId}); err != nil {
			t.Fatal(err)
		}
		hist, err := api.DescribeSessions(ctx, &ssm.DescribeSessionsInput{State: types.SessionStateHistory})
		if err != nil || len(hist.Sessions) == 0 {
			t.Fatalf("DescribeSessions: %v", err)
		}
	}

	stop()
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit code %d; stderr: %s", c, stderr.String())
		}
	case <-ctx.Done():
		t.Fatal("sandbox command did not stop on cancel")
	}
	if _, err := os.Stat(caFile); !os.IsNotExist(err) {
		t.Fatalf("CA file left behind: %v", err)
	}
}

func TestSandboxCommandBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"sandbox", "--agent-pacing", "fast"},
		{"sandbox", "--drop", "1.5"},
		{"sandbox", "--addr", "0.0.0.0:0"},
		{"sandbox", "--fleet", "/nonexistent/fleet.json"},
		{"sandbox", "extra"},
		{"sandbox", "--generate", "10", "--fleet", "x.json"},
		{"sandbox", "--region-latency", "us-east-1"},
		{"sandbox", "--region-latency", "us-east-1=soon"},
	} {
		var stdout, stderr bytes.Buffer
		env := &cliEnv{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		code := runMain(ctx, env, args)
		cancel()
		if code == 0 || stdout.Len() != 0 || stderr.Len() == 0 {
			t.Errorf("%v: code %d, stdout %q, stderr %q", args, code, stdout.String(), stderr.String())
		}
	}
}

// TestSandboxInventoryKnobs checks that the inventory-side flags reach the
// sandbox options: a generated fleet, denied regions, per-region latency and
// throttling.
func TestSandboxInventoryKnobs(t *testing.T) {
	var f sandboxFlags
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	f.register(fs)
	err := fs.Parse([]string{"--generate", "120", "--generate-regions", "4", "--generate-accounts", "2",
		"--deny-region", "us-west-1", "--region-latency", "us-east-1=50ms,us-east-2=5ms", "--api-latency", "7ms", "--throttle"})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := f.options(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range opts.Fleet.Accounts {
		n += len(a.Instances)
		if len(a.Regions) != 4 {
			t.Errorf("account %s: %d regions, want 4", a.ID, len(a.Regions))
		}
		if !a.RegionDenied("us-west-1") {
			t.Errorf("account %s: us-west-1 not denied", a.ID)
		}
	}
	if n != 120 || len(opts.Fleet.Accounts) != 2 {
		t.Errorf("generated %d instances in %d accounts, want 120 in 2", n, len(opts.Fleet.Accounts))
	}
	l := opts.Limits
	if l.Latency != 7*time.Millisecond || !l.Throttle || l.RegionLatency["us-east-1"] != 50*time.Millisecond || l.RegionLatency["us-east-2"] != 5*time.Millisecond {
		t.Errorf("limits = %+v", l)
	}
}

// TestSandboxSessionKMSFlag: --session-kms gives every account a valid KMS
// key of its own in its Session Manager preferences.
func TestSandboxSessionKMSFlag(t *testing.T) {
	var f sandboxFlags
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse([]string{"--session-kms"}); err != nil {
		t.Fatal(err)
	}
	opts, err := f.options(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range opts.Fleet.Accounts {
		if !strings.HasPrefix(a.SessionKMSKeyID, "arn:aws:kms:"+a.Regions[0]+":"+a.ID+":key/") {
			t.Errorf("account %s: key %q", a.ID, a.SessionKMSKeyID)
		}
	}
	if err := opts.Fleet.Validate(); err != nil {
		t.Fatal(err)
	}
}
