package sandbox

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/ssmtui/ssmtui/assets"
	"github.com/ssmtui/ssmtui/internal/sdkhttp"
)

// invFleet: account A with 123 running nodes in eu-west-1 (every 10th an mi-
// node), a stopped and a Windows instance in us-east-1, and a denied region.
func invFleet() *Fleet {
	f := GenerateFleet(GenOptions{Instances: 123, Regions: []string{"eu-west-1"}, ManagedEvery: 10, Seed: 1})
	a := &f.Accounts[0]
	a.Regions = []string{"eu-west-1", "us-east-1", "ap-south-1"}
	a.DeniedRegions = []string{"ap-south-1"}
	a.UserARN = "arn:aws:sts::100000000000:assumed-role/Admin/tester"
	a.Instances = append(a.Instances,
		Instance{ID: "i-0000000000000aaa1", Region: "us-east-1", Name: "stopped-one", State: "stopped", PrivateIP: "10.9.0.1", PublicIP: "198.51.100.7"},
		Instance{ID: "i-0000000000000aaa2", Region: "us-east-1", Name: "win", PlatformType: "Windows", PlatformName: "Microsoft Windows Server 2022 Datacenter",
			PrivateIP: "10.9.0.2", PublicIP: "198.51.100.8", InstanceProfile: "win-profile", Tags: map[string]string{"Env": "prod"}, AgentVersion: "3.2.0.0"},
	)
	return f
}

func startInv(t *testing.T, f *Fleet, lim LimitOptions) *Sandbox {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sb, err := Start(ctx, Options{Fleet: f, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	return sb
}

func sdkConfig(t *testing.T, sb *Sandbox, acct *Account, region string, attempts int) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(acct.AccessKeyID, acct.SecretAccessKey, "")),
		config.WithBaseEndpoint(sb.URL()),
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithRetryMaxAttempts(attempts),
	)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPClient = sdkhttp.Client(cfg.HTTPClient) // see internal/sdkhttp
	return cfg
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("code = %s (%v), want %s", ae.ErrorCode(), err, code)
	}
}

func TestDescribeInstanceInformationPagination(t *testing.T) {
	f := invFleet()
	sb := startInv(t, f, LimitOptions{})
	ctx := testCtx(t)
	c := ssm.NewFromConfig(sdkConfig(t, sb, &f.Accounts[0], "eu-west-1", 1))

	var ids []string
	pages := 0
	p := ssm.NewDescribeInstanceInformationPaginator(c, &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(50)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if pages < 3 && len(out.InstanceInformationList) != 50 {
			t.Fatalf("page %d has %d items, want 50", pages, len(out.InstanceInformationList))
		}
		for _, in := range out.InstanceInformationList {
			ids = append(ids, aws.ToString(in.InstanceId))
		}
	}
	if pages != 3 || len(ids) != 123 {
		t.Fatalf("got %d ids over %d pages, want 123 over 3", len(ids), pages)
	}
	var want []string
	for _, in := range f.Accounts[0].Instances {
		if in.Region == "eu-west-1" {
			want = append(want, in.ID)
		}
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("ids differ from fleet order")
	}

	// Default page size is 10.
	out, err := c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.InstanceInformationList) != 10 || out.NextToken == nil {
		t.Fatalf("default page: %d items, token %v", len(out.InstanceInformationList), out.NextToken)
	}
	// A token is bound to its filters.
	_, err = c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{NextToken: out.NextToken,
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("PingStatus"), Values: []string{"Online"}}}})
	wantCode(t, err, "InvalidNextToken")
	_, err = c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{NextToken: aws.String("garbage!")})
	wantCode(t, err, "InvalidNextToken")
}

func TestDescribeInstanceInformationValidation(t *testing.T) {
	f := invFleet()
	sb := startInv(t, f, LimitOptions{})
	ctx := testCtx(t)
	c := ssm.NewFromConfig(sdkConfig(t, sb, &f.Accounts[0], "eu-west-1", 1))
	for _, n := range []int32{4, 51} {
		_, err := c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(n)})
		wantCode(t, err, "ValidationException")
	}
	for name, tc := range map[string]struct {
		in   *ssm.DescribeInstanceInformationInput
		code string
	}{
		"bad key": {&ssm.DescribeInstanceInformationInput{Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("Colour"), Values: []string{"x"}}}}, "InvalidFilterKey"},
		"bad id":  {&ssm.DescribeInstanceInformationInput{Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: []string{"web-1"}}}}, "InvalidInstanceId"},
		"both lists": {&ssm.DescribeInstanceInformationInput{
			Filters:                       []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("PingStatus"), Values: []string{"Online"}}},
			InstanceInformationFilterList: []ssmtypes.InstanceInformationFilter{{Key: ssmtypes.InstanceInformationFilterKeyPingStatus, ValueSet: []string{"Online"}}},
		}, "InvalidFilter"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.DescribeInstanceInformation(ctx, tc.in)
			wantCode(t, err, tc.code)
		})
	}
	// Filters narrow the result: ResourceType ManagedInstance = the 12 mi- nodes.
	out, err := c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(50),
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("ResourceType"), Values: []string{"ManagedInstance"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.InstanceInformationList) != 12 {
		t.Fatalf("ManagedInstance filter: %d nodes, want 12", len(out.InstanceInformationList))
	}
	for _, in := range out.InstanceInformationList {
		if in.ResourceType != ssmtypes.ResourceTypeManagedInstance || aws.ToString(in.ComputerName) == "" {
			t.Fatalf("mi- node %s: type %s computer %q", aws.ToString(in.InstanceId), in.ResourceType, aws.ToString(in.ComputerName))
		}
	}
	// The deprecated lower-case filter list works alone.
	out, err = c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
		InstanceInformationFilterList: []ssmtypes.InstanceInformationFilter{{Key: ssmtypes.InstanceInformationFilterKeyInstanceIds, ValueSet: []string{f.Accounts[0].Instances[0].ID}}}})
	if err != nil || len(out.InstanceInformationList) != 1 {
		t.Fatalf("legacy filter: %v, %d items", err, len(out.InstanceInformationList))
	}
}

func TestStoppedAndWindowsInstances(t *testing.T) {
	f := invFleet()
	sb := startInv(t, f, LimitOptions{})
	ctx := testCtx(t)
	cfg := sdkConfig(t, sb, &f.Accounts[0], "us-east-1", 1)
	out, err := ssm.NewFromConfig(cfg).DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(50)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.InstanceInformationList) != 1 || aws.ToString(out.InstanceInformationList[0].InstanceId) != "i-0000000000000aaa2" {
		t.Fatalf("SSM in us-east-1 should list only the running Windows node, got %+v", out.InstanceInformationList)
	}
	win := out.InstanceInformationList[0]
	if win.PlatformType != ssmtypes.PlatformTypeWindows || aws.ToBool(win.IsLatestVersion) || win.LastPingDateTime == nil {
		t.Fatalf("windows info: %+v", win)
	}

	ec := ec2.NewFromConfig(cfg)
	di, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0000000000000aaa1", "i-0000000000000aaa2"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(di.Reservations) != 2 {
		t.Fatalf("%d reservations, want 2", len(di.Reservations))
	}
	stopped, w := di.Reservations[0].Instances[0], di.Reservations[1].Instances[0]
	if stopped.State.Name != ec2types.InstanceStateNameStopped || aws.ToInt32(stopped.State.Code) != 80 || stopped.PublicIpAddress != nil {
		t.Fatalf("stopped instance: state %+v public %v", stopped.State, stopped.PublicIpAddress)
	}
	if string(w.Platform) != "windows" || aws.ToString(w.PlatformDetails) != "Windows" ||
		aws.ToString(w.PrivateDnsName) != "ip-10-9-0-2.ec2.internal" || aws.ToString(w.PublicIpAddress) != "198.51.100.8" ||
		aws.ToString(w.PublicDnsName) != "ec2-198-51-100-8.compute-1.amazonaws.com" ||
		aws.ToString(w.IamInstanceProfile.Arn) != "arn:aws:iam::100000000000:instance-profile/win-profile" {
		t.Fatalf("windows EC2 view: %s %s %s %s %s", aws.ToString(w.PlatformDetails), aws.ToString(w.PrivateDnsName), aws.ToString(w.PublicIpAddress), aws.ToString(w.PublicDnsName), aws.ToString(w.IamInstanceProfile.Arn))
	}
	tags := map[string]string{}
	for _, tg := range w.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if tags["Name"] != "win" || tags["Env"] != "prod" {
		t.Fatalf("tags = %v", tags)
	}
	if aws.ToString(di.Reservations[0].OwnerId) != "100000000000" {
		t.Fatalf("owner = %v", aws.ToString(di.Reservations[0].OwnerId))
	}
}

func TestDescribeInstancesParameters(t *testing.T) {
	f := invFleet()
	sb := startInv(t, f, LimitOptions{})
	ctx := testCtx(t)
	ec := ec2.NewFromConfig(sdkConfig(t, sb, &f.Accounts[0], "eu-west-1", 1))
	id0 := f.Accounts[0].Instances[0].ID

	_, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id0}, MaxResults: aws.Int32(5)})
	wantCode(t, err, "InvalidParameterCombination")
	_, err = ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(4)})
	wantCode(t, err, "InvalidParameterValue")
	_, err = ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
	_, err = ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("colour"), Values: []string{"x"}}}})
	wantCode(t, err, "InvalidParameterValue")

	// instance-id filter with 200 values, paged 7 at a time.
	var ids []string
	for _, in := range f.Accounts[0].Instances {
		if in.Region == "eu-west-1" && !in.Managed() {
			ids = append(ids, in.ID)
		}
	}
	var got []string
	p := ec2.NewDescribeInstancesPaginator(ec, &ec2.DescribeInstancesInput{
		Filters: []ec2types.Filter{{Name: aws.String("instance-id"), Values: ids}}, MaxResults: aws.Int32(7)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				got = append(got, aws.ToString(in.InstanceId))
			}
		}
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("paged filter: got %d ids, want %d", len(got), len(ids))
	}
	// Tag filter with a wildcard.
	out, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:Name"), Values: []string{"*-0"}}, {Name: aws.String("instance-state-name"), Values: []string{"running"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Reservations) != 1 || aws.ToString(out.Reservations[0].Instances[0].InstanceId) != id0 {
		t.Fatalf("tag filter: %d reservations", len(out.Reservations))
	}
}

func TestRegionsIdentityAndDenied(t *testing.T) {
	f := invFleet()
	sb := startInv(t, f, LimitOptions{})
	ctx := testCtx(t)
	a := &f.Accounts[0]
	cfg := sdkConfig(t, sb, a, "eu-west-1", 1)

	out, err := ec2.NewFromConfig(cfg).DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range out.Regions {
		names = append(names, aws.ToString(r.RegionName))
	}
	if !slices.Equal(names, a.Regions) {
		t.Fatalf("regions = %v, want %v", names, a.Regions)
	}
	all, err := ec2.NewFromConfig(cfg).DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Regions) != len(KnownRegions) {
		t.Fatalf("AllRegions: %d, want %d", len(all.Regions), len(KnownRegions))
	}

	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Account) != a.ID || aws.ToString(id.Arn) != a.UserARN {
		t.Fatalf("identity = %s %s", aws.ToString(id.Account), aws.ToString(id.Arn))
	}

	denied := sdkConfig(t, sb, a, "ap-south-1", 1)
	_, err = ssm.NewFromConfig(denied).DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
	wantCode(t, err, "AccessDeniedException")
	_, err = ec2.NewFromConfig(denied).DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	wantCode(t, err, "UnauthorizedOperation")

	disabled := sdkConfig(t, sb, a, "eu-north-1", 1)
	_, err = ssm.NewFromConfig(disabled).DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
	wantCode(t, err, "UnrecognizedClientException")
	_, err = ec2.NewFromConfig(disabled).DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	wantCode(t, err, "AuthFailure")
}

func TestThrottlingBuckets(t *testing.T) {
	f := invFleet()
	// Buckets of 1 token that practically never refill: the second call throttles.
	one := Bucket{Size: 1, Refill: 1e-6}
	sb := startInv(t, f, LimitOptions{Throttle: true, SSM: one, EC2: one, EC2Unfiltered: one, Query: one})
	ctx := testCtx(t)
	cfg := sdkConfig(t, sb, &f.Accounts[0], "eu-west-1", 1)

	sc := ssm.NewFromConfig(cfg)
	if _, err := sc.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{}); err != nil {
		t.Fatal(err)
	}
	_, err := sc.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
	wantCode(t, err, "ThrottlingException")

	ec := ec2.NewFromConfig(cfg)
	// Filtered and unfiltered DescribeInstances draw from different buckets.
	if _, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatal(err)
	}
	_, err = ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantCode(t, err, "RequestLimitExceeded")

	stc := sts.NewFromConfig(cfg)
	if _, err := stc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	_, err = stc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantCode(t, err, "Throttling")

	// Buckets are per region: eu-west-1 is exhausted, us-east-1 is not.
	if _, err := ssm.NewFromConfig(sdkConfig(t, sb, &f.Accounts[0], "us-east-1", 1)).DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{}); err != nil {
		t.Fatalf("us-east-1 should have its own bucket: %v", err)
	}

	// The SDK retries throttles (attempt=2 seen by the sandbox).
	retrying := sdkConfig(t, sb, &f.Accounts[0], "eu-west-1", 2)
	_, _ = ssm.NewFromConfig(retrying).DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
	st := sb.Stats()
	if st.Throttled["ssm.DescribeInstanceInformation"] < 2 || st.Retries < 1 {
		t.Fatalf("stats = %+v", st)
	}
}

// TestLatencyKnob: every answer, an error included, leaves no earlier than
// the region's latency after the call arrived, and calls are counted. Only
// lower bounds are checked: a sleep guarantees them on any machine.
func TestLatencyKnob(t *testing.T) {
	f := invFleet()
	sb := startInv(t, f, LimitOptions{Latency: 60 * time.Millisecond, RegionLatency: map[string]time.Duration{"us-east-1": 150 * time.Millisecond}})
	ctx := testCtx(t)
	for _, c := range []struct {
		region  string
		least   time.Duration
		wantErr bool
	}{{"eu-west-1", 60 * time.Millisecond, false}, {"us-east-1", 150 * time.Millisecond, false}, {"ap-south-1", 60 * time.Millisecond, true}} {
		start := time.Now()
		_, err := ssm.NewFromConfig(sdkConfig(t, sb, &f.Accounts[0], c.region, 1)).DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
		if took := time.Since(start); took < c.least {
			t.Errorf("%s answered after %v, want at least %v", c.region, took, c.least)
		}
		if (err != nil) != c.wantErr {
			t.Errorf("%s: err = %v, want error %v", c.region, err, c.wantErr)
		}
	}
	if n := sb.Stats().Calls["ssm.DescribeInstanceInformation"]; n != 2 {
		t.Fatalf("calls = %d, want 2 (the denied call is not admitted)", n)
	}
}

func TestDemoFleetShape(t *testing.T) {
	f, err := ParseFleet(assets.DemoFleet)
	if err != nil {
		t.Fatal(err)
	}
	regions := map[string]bool{}
	n, mi, stopped, lost, outdated, windows := 0, 0, 0, 0, 0, 0
	platforms := map[string]bool{}
	for _, a := range f.Accounts {
		for _, in := range a.Instances {
			n++
			regions[in.Region] = true
			platforms[in.PlatformName] = true
			if in.Managed() {
				mi++
			}
			if in.State == "stopped" {
				stopped++
			}
			if in.PingStatus == "ConnectionLost" {
				lost++
			}
			if in.AgentVersion != "" && in.AgentVersion != LatestAgentVersion {
				outdated++
			}
			if in.PlatformType == "Windows" {
				windows++
			}
		}
	}
	if len(f.Accounts) < 2 || n < 40 || len(regions) < 6 || mi == 0 || stopped == 0 || lost == 0 || outdated == 0 || windows == 0 {
		t.Fatalf("demo fleet: %d accounts, %d instances, %d regions, %d mi, %d stopped, %d lost, %d outdated, %d windows",
			len(f.Accounts), n, len(regions), mi, stopped, lost, outdated, windows)
	}
	for _, p := range []string{"Amazon Linux", "Ubuntu", "Debian GNU/Linux", "Red Hat Enterprise Linux"} {
		if !platforms[p] {
			t.Errorf("demo fleet lacks %s", p)
		}
	}
}
