package inventory_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/ssmtui/ssmtui/assets"
	"github.com/ssmtui/ssmtui/inventory"
	"github.com/ssmtui/ssmtui/sandbox"
)

// fixture is a sandbox plus a config loader with one profile per account.
type fixture struct {
	sb       *sandbox.Sandbox
	fleet    *sandbox.Fleet
	profiles []inventory.Profile
	// region overrides the loader's region per profile (default: the
	// account's first region).
	region map[string]string
	http   *http.Client
}

// loopbackClient is the SDK's HTTP client for tests: it refuses any dial
// that is not to loopback, so a mis-routed call fails loudly instead of
// reaching AWS.
func loopbackClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("test leak guard: refusing to dial %s", addr)
		}
		return dialer.DialContext(ctx, network, addr)
	}
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: tr}
}

func newFixture(tb testing.TB, f *sandbox.Fleet, lim sandbox.LimitOptions) *fixture {
	tb.Helper()
	// A CA bundle from the environment would make the SDK replace our
	// HTTP client's transport; the sandbox speaks plain HTTP anyway.
	tb.Setenv("AWS_CA_BUNDLE", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sb, err := sandbox.Start(ctx, sandbox.Options{Fleet: f, Limits: lim})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = sb.Close() })
	fx := &fixture{sb: sb, fleet: f, region: map[string]string{}, http: loopbackClient()}
	// Runs before sb.Close: idle keep-alive connections would make the
	// sandbox's graceful shutdown wait.
	tb.Cleanup(fx.http.CloseIdleConnections)
	for _, a := range f.Accounts {
		fx.profiles = append(fx.profiles, inventory.Profile{Name: a.Profile})
	}
	return fx
}

func demoFleet(tb testing.TB) *sandbox.Fleet {
	f, err := sandbox.ParseFleet(assets.DemoFleet)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// fastRetryer retries throttles many times with a short fixed backoff so
// tests that provoke throttling finish quickly.
func fastRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 50
		o.RateLimiter = ratelimit.None
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 20 * time.Millisecond, nil })
	})
}

func (fx *fixture) load(ctx context.Context, profile string) (aws.Config, error) {
	for _, a := range fx.fleet.Accounts {
		if a.Profile != profile {
			continue
		}
		region := fx.region[profile]
		if region == "" {
			region = a.Regions[0]
		}
		return config.LoadDefaultConfig(ctx,
			config.WithRegion(region),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(a.AccessKeyID, a.SecretAccessKey, "")),
			config.WithBaseEndpoint(fx.sb.URL()),
			config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
			config.WithSharedConfigFiles([]string{}),
			config.WithSharedCredentialsFiles([]string{}),
			config.WithRetryer(fastRetryer),
			config.WithHTTPClient(fx.http),
		)
	}
	return aws.Config{}, fmt.Errorf("no such profile %q", profile)
}

func (fx *fixture) options() inventory.Options {
	return inventory.Options{Profiles: fx.profiles, LoadConfig: fx.load}
}

func scanAll(t testing.TB, opts inventory.Options) []inventory.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []inventory.Result
	inventory.NewScanner(opts).Scan(ctx, func(r inventory.Result) { out = append(out, r) })
	return out
}

func liveByKey(rs []inventory.Result) map[string]inventory.Result {
	m := map[string]inventory.Result{}
	for _, r := range rs {
		if !r.FromCache {
			m[r.Profile+"/"+r.Region] = r
		}
	}
	return m
}

// ssmVisible mirrors the fleet rule: mi- nodes and running EC2 instances
// that registered with SSM (not notManaged).
func ssmVisible(in sandbox.Instance) bool {
	return !in.NotManaged && (in.Managed() || in.State == "" || in.State == "running")
}

func TestScanDemoFleet(t *testing.T) {
	f := demoFleet(t)
	fx := newFixture(t, f, sandbox.LimitOptions{})
	results := scanAll(t, fx.options())
	byKey := liveByKey(results)

	for _, a := range f.Accounts {
		for _, region := range a.Regions {
			r, ok := byKey[a.Profile+"/"+region]
			if !ok {
				t.Fatalf("no result for %s/%s: %+v", a.Profile, region, results)
			}
			if slices.Contains(a.DeniedRegions, region) {
				var re *inventory.RegionError
				if !errors.As(r.Err, &re) || re.Kind != inventory.KindAccessDenied {
					t.Fatalf("%s/%s: err = %v, want access denied", a.Profile, region, r.Err)
				}
				if !strings.Contains(r.Err.Error(), "ssm:DescribeInstanceInformation") {
					t.Errorf("denied message should name the call: %v", r.Err)
				}
				continue
			}
			if r.Err != nil || r.Partial != nil {
				t.Fatalf("%s/%s: %v %v", a.Profile, region, r.Err, r.Partial)
			}
			var want []string
			for _, in := range a.Instances {
				if in.Region == region && ssmVisible(in) {
					want = append(want, in.ID)
				}
			}
			var got []string
			for _, in := range r.Instances {
				got = append(got, in.ID)
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("%s/%s: got %v, want %v", a.Profile, region, got, want)
			}
		}
	}

	all := flatten(results)
	byID := map[string]inventory.Instance{}
	for _, in := range all {
		byID[in.ID] = in
	}
	// A joined EC2 instance carries both halves.
	src := findFleet(t, f, "eu-west-1", "web-eu-1")
	got := byID[src.ID]
	want := inventory.Instance{
		ID: src.ID, Name: "web-eu-1", Profile: "demo-prod", Account: "111122223333", Region: "eu-west-1",
		PingStatus: "Online", AgentVersion: sandbox.LatestAgentVersion, IsLatestVersion: true,
		PlatformType: "Linux", PlatformName: "Amazon Linux", PlatformVersion: "2023", ResourceType: "EC2Instance",
		ComputerName: "ip-10-30-1-11.eu-west-1.compute.internal", LastPing: got.LastPing,
		State: "running", InstanceType: "t3.medium", PrivateIP: "10.30.1.11", PublicIP: "34.240.10.11",
		PrivateDNS: "ip-10-30-1-11.eu-west-1.compute.internal", PublicDNS: "ec2-34-240-10-11.eu-west-1.compute.amazonaws.com",
		VPCID: src.VPCID, SubnetID: src.SubnetID, AvailabilityZone: src.AZ, PlatformDetails: "Linux/UNIX",
		LaunchTime:         src.LaunchTime,
		IAMInstanceProfile: "arn:aws:iam::111122223333:instance-profile/web-profile",
		Tags:               map[string]string{"Name": "web-eu-1", "Env": "prod", "Team": "platform", "App": "storefront"},
	}
	if got.LastPing.IsZero() {
		t.Error("LastPing not set")
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("joined instance:\n got %+v\nwant %+v", got, want)
	}
	// An on-prem node comes from SSM alone.
	mi := byID[findFleet(t, f, "us-east-1", "dc-rack12-db").ID]
	if mi.Name != "dc-rack12-db" || mi.ResourceType != "ManagedInstance" || mi.ComputerName != "rack12-db.dc1.acme.internal" ||
		mi.PrivateIP != "192.168.12.20" || mi.State != "" || mi.Tags != nil || mi.PlatformName != "Red Hat Enterprise Linux" {
		t.Fatalf("mi- node: %+v", mi)
	}
	// Windows, ConnectionLost and outdated agents survive the join.
	if w := byID[findFleet(t, f, "us-east-1", "ad-dc-1").ID]; w.PlatformType != "Windows" || w.PlatformDetails != "Windows" {
		t.Fatalf("windows: %+v", w)
	}
	if l := byID[findFleet(t, f, "us-west-2", "batch-worker-2").ID]; l.PingStatus != "ConnectionLost" || l.Online() {
		t.Fatalf("connection lost: %+v", l)
	}
	if o := byID[findFleet(t, f, "us-east-1", "bastion-legacy").ID]; o.IsLatestVersion || o.AgentVersion != "3.1.1732.0" {
		t.Fatalf("outdated agent: %+v", o)
	}
}

func findFleet(t testing.TB, f *sandbox.Fleet, region, name string) sandbox.Instance {
	t.Helper()
	for _, a := range f.Accounts {
		for _, in := range a.Instances {
			if in.Region == region && in.Name == name {
				return in
			}
		}
	}
	t.Fatalf("fleet has no %s in %s", name, region)
	return sandbox.Instance{}
}

func flatten(rs []inventory.Result) []inventory.Instance {
	var out []inventory.Instance
	for _, r := range rs {
		if !r.FromCache {
			out = append(out, r.Instances...)
		}
	}
	return out
}

func TestScanPaginationAndBatching(t *testing.T) {
	regions := []string{"eu-west-1", "us-east-1", "ap-southeast-2"}
	f := sandbox.GenerateFleet(sandbox.GenOptions{Instances: 1234, Regions: regions, ManagedEvery: 7, Seed: 2})
	fx := newFixture(t, f, sandbox.LimitOptions{})
	results := scanAll(t, fx.options())

	perRegion := map[string]int{}
	ec2PerRegion := map[string]int{}
	for _, in := range f.Accounts[0].Instances {
		perRegion[in.Region]++
		if !in.Managed() {
			ec2PerRegion[in.Region]++
		}
	}
	seen := map[string]bool{}
	wantSSM, wantEC2 := 0, 0
	for _, r := range liveByKey(results) {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.Region, r.Err)
		}
		if len(r.Instances) != perRegion[r.Region] {
			t.Fatalf("%s: %d instances, want %d", r.Region, len(r.Instances), perRegion[r.Region])
		}
		for _, in := range r.Instances {
			if seen[in.ID] {
				t.Fatalf("duplicate %s", in.ID)
			}
			seen[in.ID] = true
			if !strings.HasPrefix(in.ID, "mi-") && (in.State != "running" || in.Tags["Name"] != in.Name || in.Name == "") {
				t.Fatalf("EC2 instance not enriched: %+v", in)
			}
		}
		wantSSM += (perRegion[r.Region] + 49) / 50
		wantEC2 += (ec2PerRegion[r.Region] + 199) / 200
	}
	if len(seen) != 1234 {
		t.Fatalf("listed %d, want 1234", len(seen))
	}
	st := fx.sb.Stats()
	if st.Calls["ssm.DescribeInstanceInformation"] != wantSSM || st.Calls["ec2.DescribeInstances"] != wantEC2 {
		t.Fatalf("calls = %v, want %d SSM pages and %d EC2 batches", st.Calls, wantSSM, wantEC2)
	}
}

func TestScanFinishesThroughThrottling(t *testing.T) {
	f := sandbox.GenerateFleet(sandbox.GenOptions{Instances: 600, Regions: []string{"eu-west-1"}, Seed: 3})
	// 12 SSM pages against a bucket of 2 refilling 5/s: throttled on the way.
	fx := newFixture(t, f, sandbox.LimitOptions{Throttle: true, SSM: sandbox.Bucket{Size: 2, Refill: 5}, EC2: sandbox.Bucket{Size: 1, Refill: 5}})
	results := scanAll(t, fx.options())
	r := liveByKey(results)["gen-0/eu-west-1"]
	if r.Err != nil || r.Partial != nil || len(r.Instances) != 600 {
		t.Fatalf("err %v partial %v, %d instances", r.Err, r.Partial, len(r.Instances))
	}
	st := fx.sb.Stats()
	if st.Throttled["ssm.DescribeInstanceInformation"] == 0 || st.Retries == 0 {
		t.Fatalf("expected throttles and retries, stats %+v", st)
	}
}

func TestScanThrottledOutIsRegionError(t *testing.T) {
	f := sandbox.GenerateFleet(sandbox.GenOptions{Instances: 20, Regions: []string{"eu-west-1", "us-east-1"}, Seed: 4})
	fx := newFixture(t, f, sandbox.LimitOptions{Throttle: true, SSM: sandbox.Bucket{Size: 1, Refill: 1e-9}})
	opts := fx.options()
	opts.Regions = []string{"eu-west-1"}
	// One attempt only: the second page meets an empty bucket.
	opts.LoadConfig = func(ctx context.Context, p string) (aws.Config, error) {
		cfg, err := fx.load(ctx, p)
		cfg.Retryer = func() aws.Retryer { return retry.AddWithMaxAttempts(retry.NewStandard(), 1) }
		return cfg, err
	}
	scanAll(t, opts) // uses the only token for page 1, page 2 is throttled
	r := liveByKey(scanAll(t, opts))["gen-0/eu-west-1"]
	var re *inventory.RegionError
	if !errors.As(r.Err, &re) || re.Kind != inventory.KindThrottled {
		t.Fatalf("err = %v, want throttled", r.Err)
	}
}

func TestScanFallbackRegionsWhenDescribeRegionsDenied(t *testing.T) {
	f := sandbox.GenerateFleet(sandbox.GenOptions{Instances: 5, Regions: []string{"eu-west-1", "ap-south-1"}, Seed: 5})
	f.Accounts[0].DeniedRegions = []string{"ap-south-1"}
	fx := newFixture(t, f, sandbox.LimitOptions{})
	fx.region["gen-0"] = "ap-south-1" // DescribeRegions is called (and denied) there
	results := liveByKey(scanAll(t, fx.options()))
	if len(results) != len(inventory.FallbackRegions) {
		t.Fatalf("%d results, want one per fallback region (%d)", len(results), len(inventory.FallbackRegions))
	}
	for _, region := range inventory.FallbackRegions {
		r := results["gen-0/"+region]
		var re *inventory.RegionError
		switch region {
		case "eu-west-1":
			if r.Err != nil || len(r.Instances) != 3 {
				t.Fatalf("eu-west-1: %v, %d instances", r.Err, len(r.Instances))
			}
			// GetCallerIdentity was denied too: the account comes from EC2's ownerId.
			if acct := r.Instances[0].Account; acct != f.Accounts[0].ID {
				t.Fatalf("account = %q, want %s", acct, f.Accounts[0].ID)
			}
		case "ap-south-1":
			if !errors.As(r.Err, &re) || re.Kind != inventory.KindAccessDenied {
				t.Fatalf("ap-south-1: %v", r.Err)
			}
		default:
			if !errors.As(r.Err, &re) || re.Kind != inventory.KindRegionDisabled {
				t.Fatalf("%s: %v, want region disabled", region, r.Err)
			}
		}
	}
}

func TestScanSSOExpiredProfile(t *testing.T) {
	f := demoFleet(t)
	fx := newFixture(t, f, sandbox.LimitOptions{})
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfgFile := filepath.Join(home, "config")
	must(t, os.WriteFile(cfgFile, []byte(`[profile sso-dev]
sso_session = corp
sso_account_id = 444455556666
sso_role_name = Developer
region = eu-west-2

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = eu-west-1
`), 0o600))
	cacheDir := filepath.Join(home, ".aws", "sso", "cache")
	must(t, os.MkdirAll(cacheDir, 0o700))
	// The token cache file for session "corp": sha1("corp").json, expired, no refresh token.
	must(t, os.WriteFile(filepath.Join(cacheDir, "ee0bfd2552fbd840c02cc48b6e823320543c450f.json"), []byte(`{
"accessToken":"expired-token","expiresAt":"2020-01-01T00:00:00Z","region":"eu-west-1","startUrl":"https://corp.awsapps.com/start"}`), 0o600))

	files := inventory.ProfileFiles{Config: cfgFile, Credentials: filepath.Join(home, "credentials")}
	profiles, err := inventory.LoadProfiles(files)
	must(t, err)
	if len(profiles) != 1 || !profiles[0].SSO || profiles[0].Region != "eu-west-2" {
		t.Fatalf("profiles = %+v", profiles)
	}
	opts := fx.options()
	opts.Profiles = append(profiles, fx.profiles[0])
	opts.LoadConfig = func(ctx context.Context, p string) (aws.Config, error) {
		if p != "sso-dev" {
			return fx.load(ctx, p)
		}
		return config.LoadDefaultConfig(ctx,
			config.WithSharedConfigProfile(p),
			config.WithSharedConfigFiles([]string{files.Config}),
			config.WithSharedCredentialsFiles([]string{files.Credentials}),
			config.WithBaseEndpoint(fx.sb.URL()),
			config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
			config.WithHTTPClient(fx.http),
		)
	}
	results := scanAll(t, opts)
	var ssoErr *inventory.SSOExpiredError
	var ssoResults, prodRows int
	for _, r := range results {
		switch r.Profile {
		case "sso-dev":
			ssoResults++
			if !errors.As(r.Err, &ssoErr) || r.Region != "" {
				t.Fatalf("sso-dev result: region %q err %v", r.Region, r.Err)
			}
		case "demo-prod":
			prodRows += len(r.Instances)
		}
	}
	if ssoResults != 1 || prodRows == 0 {
		t.Fatalf("sso results %d, demo-prod rows %d", ssoResults, prodRows)
	}
	t.Logf("underlying: %v", ssoErr.Err)
	if msg := ssoErr.Error(); !strings.Contains(msg, "run `aws sso login --profile sso-dev`") || strings.Count(msg, "\n") > 0 {
		t.Fatalf("message = %q", msg)
	}
}

func TestScanCacheStaleWhileRevalidate(t *testing.T) {
	f := demoFleet(t)
	fx := newFixture(t, f, sandbox.LimitOptions{})
	dir := t.TempDir()
	opts := fx.options()
	opts.CacheDir = dir
	first := scanAll(t, opts)
	for _, r := range first {
		if r.FromCache {
			t.Fatal("no cache yet, but a cached result was emitted")
		}
	}

	// Second scan: every cached result is emitted before any live one, and
	// matches what the first scan found.
	opts.Now = func() time.Time { return time.Now().Add(time.Hour) }
	second := scanAll(t, opts)
	firstLive := -1
	cached := map[string]inventory.Result{}
	for i, r := range second {
		if !r.FromCache && firstLive < 0 {
			firstLive = i
		}
		if r.FromCache {
			if firstLive >= 0 {
				t.Fatalf("cached result %s/%s after a live one", r.Profile, r.Region)
			}
			cached[r.Profile+"/"+r.Region] = r
		}
	}
	live := liveByKey(first)
	okRegions := 0
	for k, r := range live {
		if r.Err != nil {
			if _, ok := cached[k]; ok {
				t.Fatalf("failed region %s was cached", k)
			}
			continue
		}
		okRegions++
		c, ok := cached[k]
		if !ok {
			t.Fatalf("region %s not cached", k)
		}
		if !c.Fetched.Equal(r.Fetched) || !reflect.DeepEqual(c.Instances, r.Instances) {
			t.Fatalf("cached %s differs from live", k)
		}
	}
	if len(cached) != okRegions {
		t.Fatalf("%d cached regions, want %d", len(cached), okRegions)
	}

	// A third scan where the live side fails keeps serving the cache.
	opts.LoadConfig = func(context.Context, string) (aws.Config, error) { return aws.Config{}, errors.New("boom") }
	third := scanAll(t, opts)
	n := 0
	for _, r := range third {
		if r.FromCache {
			n++
		}
	}
	if n != okRegions {
		t.Fatalf("after a failed refresh %d cached regions, want %d", n, okRegions)
	}
}

func TestScanIgnoresCorruptCache(t *testing.T) {
	f := demoFleet(t)
	fx := newFixture(t, f, sandbox.LimitOptions{})
	dir := t.TempDir()
	opts := fx.options()
	opts.CacheDir = dir
	scanAll(t, opts)
	files, _ := filepath.Glob(filepath.Join(dir, "*.inv"))
	if len(files) != 2 {
		t.Fatalf("cache files = %v", files)
	}
	for name, mutate := range map[string]func([]byte) []byte{
		"garbage":     func([]byte) []byte { return []byte("{not a cache") },
		"truncated":   func(b []byte) []byte { return b[:len(b)/2] },
		"bit flip":    func(b []byte) []byte { b = slices.Clone(b); b[len(b)/2] ^= 0x40; return b },
		"old version": func(b []byte) []byte { b = slices.Clone(b); b[8] = 0; b[9] = 0; return b },
		"empty":       func([]byte) []byte { return nil },
	} {
		t.Run(name, func(t *testing.T) {
			for _, p := range files {
				b, err := os.ReadFile(p)
				must(t, err)
				must(t, os.WriteFile(p, mutate(b), 0o600))
			}
			results := scanAll(t, opts)
			for _, r := range results {
				if r.FromCache {
					t.Fatalf("corrupt cache produced a cached result for %s", r.Profile)
				}
			}
			if len(flatten(results)) == 0 {
				t.Fatal("live scan listed nothing")
			}
			// The live scan rewrote a valid cache.
			for _, a := range f.Accounts {
				if _, err := inventory.LoadCache(dir, a.Profile); err != nil {
					t.Fatalf("cache not rewritten: %v", err)
				}
			}
		})
	}
	_, err := inventory.LoadCache(t.TempDir(), "nobody")
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing cache: %v", err)
	}
	must(t, os.WriteFile(files[0], []byte("x"), 0o600))
	for _, a := range f.Accounts {
		if _, err := inventory.LoadCache(dir, a.Profile); err != nil && !errors.Is(err, inventory.ErrCacheFormat) {
			t.Fatalf("corrupt cache error = %v, want ErrCacheFormat", err)
		}
	}
}

func TestScanConcurrencyOneAndEmitSerial(t *testing.T) {
	f := sandbox.GenerateFleet(sandbox.GenOptions{Instances: 200, NRegions: 8, Accounts: 2, Seed: 6})
	fx := newFixture(t, f, sandbox.LimitOptions{})
	for _, c := range []int{1, 64} {
		opts := fx.options()
		opts.Concurrency = c
		var mu sync.Mutex
		inEmit := false
		n := 0
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		inventory.NewScanner(opts).Scan(ctx, func(r inventory.Result) {
			if !mu.TryLock() || inEmit {
				t.Error("emit called concurrently")
				return
			}
			inEmit = true
			n += len(r.Instances)
			inEmit = false
			mu.Unlock()
		})
		cancel()
		if n != 200 {
			t.Fatalf("concurrency %d: %d instances, want 200", c, n)
		}
	}
}

func TestScanCanceled(t *testing.T) {
	f := sandbox.GenerateFleet(sandbox.GenOptions{Instances: 50, NRegions: 4, Seed: 7})
	fx := newFixture(t, f, sandbox.LimitOptions{Latency: 10 * time.Second})
	opts := fx.options()
	opts.Regions = []string{"us-east-1", "us-east-2"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []inventory.Result)
	go func() {
		var rs []inventory.Result
		inventory.NewScanner(opts).Scan(ctx, func(r inventory.Result) { rs = append(rs, r) })
		done <- rs
	}()
	cancel()
	select {
	case rs := <-done:
		for _, r := range rs {
			var re *inventory.RegionError
			if r.Err == nil || (errors.As(r.Err, &re) && re.Kind != inventory.KindCanceled) {
				t.Fatalf("result after cancel: %+v", r)
			}
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Scan did not return after cancel")
	}
}

func TestScanInvalidOptions(t *testing.T) {
	rs := scanAll(t, inventory.Options{})
	if len(rs) != 1 || rs[0].Err == nil {
		t.Fatalf("results = %+v", rs)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
