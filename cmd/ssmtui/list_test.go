package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssmtui/ssmtui/assets"
	"github.com/ssmtui/ssmtui/inventory"
	"github.com/ssmtui/ssmtui/sandbox"
)

// listEnv starts the demo sandbox and writes an AWS config with one profile
// per account, the way `ssmtui demo` does; every AWS variable of the test
// process is replaced so nothing reaches the developer's ~/.aws or AWS.
func listEnv(t *testing.T) (*sandbox.Sandbox, *sandbox.Fleet) {
	t.Helper()
	f, err := sandbox.ParseFleet(assets.DemoFleet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sb, err := sandbox.Start(ctx, sandbox.Options{Fleet: f})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })

	home := t.TempDir()
	var cfg, creds strings.Builder
	for _, a := range f.Accounts {
		cfg.WriteString("[profile " + a.Profile + "]\nregion = " + a.Regions[0] + "\n\n")
		creds.WriteString("[" + a.Profile + "]\naws_access_key_id = " + a.AccessKeyID + "\naws_secret_access_key = " + a.SecretAccessKey + "\n\n")
	}
	cfgFile, credsFile := filepath.Join(home, "config"), filepath.Join(home, "credentials")
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(credsFile, []byte(creds.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"HOME": home, "AWS_CONFIG_FILE": cfgFile, "AWS_SHARED_CREDENTIALS_FILE": credsFile,
		"AWS_ENDPOINT_URL": sb.URL(), "AWS_EC2_METADATA_DISABLED": "true", "SSMTUI_CACHE_DIR": filepath.Join(home, "cache"),
		"AWS_PROFILE": "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_CA_BUNDLE": "", "AWS_MAX_ATTEMPTS": "",
		"AWS_ENDPOINT_URL_SSM": "", "AWS_ENDPOINT_URL_EC2": "", "AWS_ENDPOINT_URL_STS": "", "XDG_CACHE_HOME": "",
	} {
		t.Setenv(k, v)
	}
	return sb, f
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	env := &cliEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: os.Getenv}
	code = runMain(ctx, env, args)
	return out.String(), errb.String(), code
}

// expectedFromFleet is what `list --json` must print for the fleet: every
// node DescribeInstanceInformation shows (mi- nodes and running EC2
// instances registered with SSM, i.e. not notManaged) outside denied
// regions, with the fleet's values and defaults.
func expectedFromFleet(f *sandbox.Fleet) []inventory.Instance {
	var out []inventory.Instance
	for _, a := range f.Accounts {
		for _, in := range a.Instances {
			if slices.Contains(a.DeniedRegions, in.Region) || in.NotManaged || !(in.Managed() || in.State == "" || in.State == "running") {
				continue
			}
			e := inventory.Instance{
				ID: in.ID, Name: in.Name, Profile: a.Profile, Account: a.ID, Region: in.Region,
				PingStatus: cmpOr(in.PingStatus, "Online"), AgentVersion: cmpOr(in.AgentVersion, sandbox.LatestAgentVersion),
				PlatformType: cmpOr(in.PlatformType, "Linux"), PlatformName: cmpOr(in.PlatformName, "Amazon Linux"),
				PlatformVersion: in.PlatformVersion, PrivateIP: in.PrivateIP,
			}
			e.IsLatestVersion = e.AgentVersion == sandbox.LatestAgentVersion
			if in.Managed() {
				e.ResourceType, e.ComputerName = "ManagedInstance", in.ComputerName
			} else {
				e.ResourceType, e.ComputerName = "EC2Instance", in.PrivateDNS()
				e.State, e.InstanceType = "running", cmpOr(in.InstanceType, "t3.micro")
				e.PublicIP, e.PrivateDNS, e.PublicDNS = in.PublicIP, in.PrivateDNS(), in.PublicDNS()
				e.VPCID, e.SubnetID, e.AvailabilityZone = in.VPCID, in.SubnetID, in.AZ
				e.PlatformDetails, e.LaunchTime = in.PlatformDetails(), in.LaunchTime
				if in.InstanceProfile != "" {
					e.IAMInstanceProfile = "arn:aws:iam::" + a.ID + ":instance-profile/" + in.InstanceProfile
				}
				e.Tags = map[string]string{"Name": in.Name}
				for k, v := range in.Tags {
					e.Tags[k] = v
				}
			}
			out = append(out, e)
		}
	}
	return out
}

func TestListJSONMatchesDemoFleet(t *testing.T) {
	_, f := listEnv(t)
	stdout, stderr, code := runCLI(t, "list", "--all-profiles", "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	// The denied region is reported on stderr, named with its profile.
	if !strings.Contains(stderr, "demo-dev ap-south-1") || !strings.Contains(stderr, "access denied") {
		t.Fatalf("stderr should report the denied region:\n%s", stderr)
	}
	var got []inventory.Instance
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout is not one JSON array: %v\n%s", err, stdout)
	}
	want := expectedFromFleet(f)
	if len(got) != len(want) {
		t.Fatalf("%d instances, want %d", len(got), len(want))
	}
	byID := map[string]inventory.Instance{}
	for _, in := range got {
		if in.LastPing.IsZero() {
			t.Errorf("%s: lastPing missing", in.ID)
		}
		in.LastPing = time.Time{}
		byID[in.ID] = in
	}
	for _, w := range want {
		g, ok := byID[w.ID]
		if !ok {
			t.Errorf("missing %s (%s)", w.ID, w.Name)
			continue
		}
		if !g.LaunchTime.Equal(w.LaunchTime) {
			t.Errorf("%s launchTime %v, want %v", w.ID, g.LaunchTime, w.LaunchTime)
		}
		g.LaunchTime, w.LaunchTime = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", w.ID, g, w)
		}
	}
	// Field names are the documented interface.
	var raw []map[string]any
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "name", "profile", "account", "region", "pingStatus", "agentVersion", "isLatestVersion", "platformName", "privateIp"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("JSON field %q missing: %v", k, raw[0])
		}
	}
}

func TestListTableAndFilters(t *testing.T) {
	listEnv(t)
	stdout, stderr, code := runCLI(t, "list", "--profile", "demo-prod", "--region", "us-east-1,us-west-2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if fields := strings.Fields(lines[0]); !slices.Equal(fields, []string{"NAME", "ID", "PRIVATE", "IP", "PLATFORM", "PING", "AGENT", "REGION", "PROFILE"}) {
		t.Fatalf("header = %q", lines[0])
	}
	// us-east-1: 7 running EC2 + 2 mi-; us-west-2: 5.
	if len(lines) != 1+9+5 {
		t.Fatalf("%d rows, want 14:\n%s", len(lines)-1, stdout)
	}
	if !strings.Contains(stdout, "3.1.1732.0*") || !strings.Contains(stdout, "ConnectionLost") || !strings.Contains(stdout, "Red Hat Enterprise Linux 9.4") {
		t.Fatalf("table lacks outdated agent / ConnectionLost / platform:\n%s", stdout)
	}
	if strings.Contains(stdout, "eu-west-1") || strings.Contains(stdout, "demo-dev") {
		t.Fatalf("--region/--profile not applied:\n%s", stdout)
	}

	for name, tc := range map[string]struct {
		args []string
		want []string // names, sorted by profile, region, name
	}{
		"filter text":    {[]string{"--filter", "WEB-PROD"}, []string{"web-prod-1", "web-prod-2", "web-prod-1", "web-prod-2"}},
		"filter ip":      {[]string{"--filter", "10.30.3.31"}, []string{"redis-eu"}},
		"tag":            {[]string{"--tag", "App=postgres"}, []string{"dev-db", "db-primary", "staging-db"}},
		"tag and online": {[]string{"--tag", "Team=data", "--online", "--region", "us-west-2"}, []string{"kafka-1", "batch-worker-1"}},
		"tag key only":   {[]string{"--tag", "App", "--filter", "jupyter"}, []string{"ml-notebook"}},
	} {
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, append([]string{"list", "--all-profiles", "--json"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var got []inventory.Instance
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, in := range got {
				names = append(names, in.Name)
			}
			slices.Sort(names)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(names, want) {
				t.Fatalf("names = %v, want %v", names, want)
			}
		})
	}
}

func TestListExitCodes(t *testing.T) {
	listEnv(t)
	// Only the denied region: nothing answered → 2, error on stderr, empty array on stdout.
	stdout, stderr, code := runCLI(t, "list", "--profile", "demo-dev", "--region", "ap-south-1", "--json")
	if code != 2 || strings.TrimSpace(stdout) != "[]" || !strings.Contains(stderr, "AccessDenied") {
		t.Fatalf("denied only: exit %d stdout %q stderr %q", code, stdout, stderr)
	}
	// An unknown profile is a per-profile error, the other profile still lists → 0.
	stdout, stderr, code = runCLI(t, "list", "--profile", "nope,demo-prod", "--region", "eu-west-1")
	if code != 0 || !strings.Contains(stderr, "profile nope") || !strings.Contains(stdout, "web-eu-1") {
		t.Fatalf("unknown profile: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// Bad flags are usage errors.
	if _, _, code := runCLI(t, "list", "--bogus"); code != 2 {
		t.Fatalf("bad flag exit %d", code)
	}
	if _, stderr, code := runCLI(t, "list", "--tag", "=x"); code != 2 || !strings.Contains(stderr, "--tag") {
		t.Fatalf("bad tag: exit %d %s", code, stderr)
	}
}

func TestListUsesCacheForFailedRegions(t *testing.T) {
	sb, _ := listEnv(t)
	if _, stderr, code := runCLI(t, "list", "--profile", "demo-prod"); code != 0 {
		t.Fatalf("first run: %d %s", code, stderr)
	}
	// The endpoint goes away: every region fails, cached rows are shown, exit 2.
	_ = sb.Close()
	stdout, stderr, code := runCLI(t, "list", "--profile", "demo-prod", "--region", "eu-west-1", "--timeout", "5s")
	if code != 2 || !strings.Contains(stdout, "web-eu-1") || !strings.Contains(stderr, "cached rows for demo-prod eu-west-1") {
		t.Fatalf("cache fallback: exit %d\n%s\n%s", code, stdout, stderr)
	}
	stdout, _, code = runCLI(t, "list", "--profile", "demo-prod", "--region", "eu-west-1", "--timeout", "5s", "--no-cache")
	if code != 2 || strings.Contains(stdout, "web-eu-1") {
		t.Fatalf("--no-cache still showed cached rows: exit %d\n%s", code, stdout)
	}
}

func TestListAssumeRoleWithMFAPrompt(t *testing.T) {
	listEnv(t)
	cfgFile := os.Getenv("AWS_CONFIG_FILE")
	b, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, []byte(`[profile dev-admin]
role_arn = arn:aws:iam::444455556666:role/Admin
source_profile = demo-prod
mfa_serial = arn:aws:iam::111122223333:mfa/demo
region = eu-west-2
`)...)
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(stdin string) (string, string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var out, errb bytes.Buffer
		env := &cliEnv{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: os.Getenv}
		code := runMain(ctx, env, []string{"list", "--profile", "dev-admin", "--region", "eu-west-2"})
		return out.String(), errb.String(), code
	}
	// The code typed at the prompt reaches AssumeRole; the role's account is listed.
	stdout, stderr, code := run("123456\n")
	if code != 0 || !strings.Contains(stderr, "MFA code for profile dev-admin: ") || !strings.Contains(stdout, "staging-web-1") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// No code: a per-profile credentials error, exit 2.
	_, stderr, code = run("")
	if code != 2 || !strings.Contains(stderr, "profile dev-admin: get credentials") || !strings.Contains(stderr, "read MFA code") {
		t.Fatalf("no MFA code: exit %d\n%s", code, stderr)
	}
}

func TestLoadAWSConfigWithoutMFACallback(t *testing.T) {
	listEnv(t)
	cfgFile := os.Getenv("AWS_CONFIG_FILE")
	b, _ := os.ReadFile(cfgFile)
	b = append(b, []byte("[profile mfa]\nrole_arn = arn:aws:iam::444455556666:role/Admin\nsource_profile = demo-prod\nmfa_serial = arn:aws:iam::111122223333:mfa/demo\n")...)
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	env := &cliEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: os.Getenv}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := loadAWSConfig(ctx, env, awsOptions{Profile: "mfa", Region: "eu-west-2"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-2" || cfg.BaseEndpoint == nil || *cfg.BaseEndpoint != os.Getenv("AWS_ENDPOINT_URL") {
		t.Fatalf("region %q endpoint %v", cfg.Region, cfg.BaseEndpoint)
	}
	_, err = cfg.Credentials.Retrieve(ctx)
	if err == nil || !strings.Contains(err.Error(), "profile mfa needs an MFA code") {
		t.Fatalf("err = %v", err)
	}
}

func TestListCredentialProcessProfile(t *testing.T) {
	_, f := listEnv(t)
	dev := f.Accounts[1]
	script := filepath.Join(t.TempDir(), "creds.sh")
	body := "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"" + dev.AccessKeyID + "\", \"SecretAccessKey\": \"" + dev.SecretAccessKey + "\"}'\n"
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	cfgFile := os.Getenv("AWS_CONFIG_FILE")
	b, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, []byte("[profile from-process]\ncredential_process = "+script+"\nregion = ca-central-1\n")...)
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, "list", "--profile", "from-process", "--region", "ca-central-1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got []inventory.Instance
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	// ca-central-1 of the dev account: ml-notebook and perf-1 (ml-trainer is stopped).
	if len(got) != 2 || got[0].Account != dev.ID || got[0].Profile != "from-process" {
		t.Fatalf("got %+v", got)
	}
}

func TestListDefaultsToAWSProfile(t *testing.T) {
	listEnv(t)
	t.Setenv("AWS_PROFILE", "demo-dev")
	stdout, stderr, code := runCLI(t, "list", "--json", "--region", "us-east-1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got []inventory.Instance
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		t.Fatal("no rows")
	}
	for _, in := range got {
		if in.Profile != "demo-dev" || in.Account != "444455556666" {
			t.Fatalf("row from %s/%s, want demo-dev only", in.Profile, in.Account)
		}
	}
}

// TestEnvironmentCredentialsWithoutFiles: with only AWS_ACCESS_KEY_ID and
// friends set (CI, aws-vault, `eval $(ssmtui sandbox)`) and no ~/.aws
// files, list and exec use the SDK's default chain, as the AWS CLI does,
// instead of demanding a "default" profile.
func TestEnvironmentCredentialsWithoutFiles(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	e.trustHost(t, cxWeb)
	missing := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": missing + "/config", "AWS_SHARED_CREDENTIALS_FILE": missing + "/credentials", "AWS_PROFILE": "",
		"AWS_ACCESS_KEY_ID": cxAKID, "AWS_SECRET_ACCESS_KEY": "cx-secret", "AWS_REGION": "us-east-1",
	} {
		t.Setenv(k, v)
	}
	r := e.run(t, nil, "list", "--no-cache")
	if r.code != 0 || !strings.Contains(r.stdout, cxWeb) {
		t.Fatalf("list: code %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	r = e.run(t, nil, "exec", "web", "--", "echo", "hello")
	if r.code != 0 || r.stdout != "hello\n" {
		t.Fatalf("exec: code %d stdout %q stderr %s", r.code, r.stdout, r.stderr)
	}
}
