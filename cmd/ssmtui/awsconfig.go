package main

import (
	"bufio"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/ssmtui/ssmtui/internal/sdkhttp"
	"github.com/ssmtui/ssmtui/inventory"
)

// awsOptions selects the credentials and region of an aws.Config.
type awsOptions struct {
	// Profile is the shared-config profile; "" uses the SDK's default chain
	// (environment keys, AWS_PROFILE, [default]).
	Profile string
	// Region overrides the profile's region and AWS_REGION.
	Region string
	// MFA answers an assume-role MFA prompt (mfa_serial in the profile) with
	// a code. nil makes such profiles fail with a clear error instead of
	// reading the terminal behind the TUI's back.
	MFA func(profile string) (string, error)
}

// loadAWSConfig builds the aws.Config every command uses: credentials
// through config.LoadDefaultConfig (static keys, SSO, credential_process,
// assume-role with MFA via o.MFA), the shared files named by
// AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE, AWS_ENDPOINT_URL as the
// base endpoint for every service, AWS_REGION then AWS_DEFAULT_REGION before
// the profile's region,
// IMDS off when AWS_EC2_METADATA_DISABLED=true, 5 attempts per call
// unless AWS_MAX_ATTEMPTS says otherwise, and an HTTP client that avoids a
// smithy-go/net/http request-body race (internal/sdkhttp). All of these are read through
// env.getenv so in-process tests can set them.
//
// Credentials are resolved lazily, at the first API call. Map a failure to
// a user-facing error with inventory.ClassifyCredentialsError, which turns an
// expired SSO token into "run `aws sso login --profile P`".
func loadAWSConfig(ctx context.Context, env *cliEnv, o awsOptions) (aws.Config, error) {
	files := inventory.DefaultProfileFiles(env.getenv)
	opts := []func(*config.LoadOptions) error{
		config.WithSharedConfigFiles([]string{files.Config}),
		config.WithSharedCredentialsFiles([]string{files.Credentials}),
	}
	if o.Profile != "" && !(o.Profile == "default" && !profileDefined(files, "default")) {
		// An undefined "default" is the SDK's default chain (environment
		// keys, SSO/web identity from the environment, instance role), as
		// with the AWS CLI; naming it would make the SDK insist on the file.
		opts = append(opts, config.WithSharedConfigProfile(o.Profile))
	}
	// Same precedence as the CLI: flag, AWS_REGION, AWS_DEFAULT_REGION (which
	// the Go SDK alone would ignore), then the profile's region.
	if region := cmpOr(o.Region, cmpOr(env.getenv("AWS_REGION"), env.getenv("AWS_DEFAULT_REGION"))); region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if u := env.getenv("AWS_ENDPOINT_URL"); u != "" {
		opts = append(opts, config.WithBaseEndpoint(u))
	}
	if strings.EqualFold(env.getenv("AWS_EC2_METADATA_DISABLED"), "true") {
		opts = append(opts, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	if env.getenv("AWS_MAX_ATTEMPTS") == "" {
		opts = append(opts, config.WithRetryMaxAttempts(5))
	}
	profile := o.Profile
	opts = append(opts, config.WithAssumeRoleCredentialOptions(func(ao *stscreds.AssumeRoleOptions) {
		ao.TokenProvider = func() (string, error) {
			if o.MFA == nil {
				return "", fmt.Errorf("profile %s needs an MFA code (mfa_serial) and this command cannot prompt for one", profile)
			}
			return o.MFA(profile)
		}
	}))
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config for profile %q: %w", o.Profile, err)
	}
	// After loading, so AWS_CA_BUNDLE still reaches the SDK's own client.
	cfg.HTTPClient = sdkhttp.Client(cfg.HTTPClient)
	return cfg, nil
}

// profileDefined reports whether the shared files define profile name.
func profileDefined(files inventory.ProfileFiles, name string) bool {
	known, err := inventory.LoadProfiles(files)
	if err != nil {
		return true // let the SDK report the unreadable file
	}
	for _, k := range known {
		if k.Name == name {
			return true
		}
	}
	return false
}

// selectProfiles turns --profile a,b / --all-profiles into inventory
// profiles. Neither flag means AWS_PROFILE, else "default".
func selectProfiles(env *cliEnv, names string, all bool) ([]inventory.Profile, error) {
	files := inventory.DefaultProfileFiles(env.getenv)
	known, err := inventory.LoadProfiles(files)
	if err != nil {
		return nil, err
	}
	if all {
		if len(known) == 0 {
			return nil, fmt.Errorf("--all-profiles: no profiles in %s or %s", filepath.Clean(files.Config), filepath.Clean(files.Credentials))
		}
		return known, nil
	}
	var want []string
	for n := range strings.SplitSeq(names, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want = append(want, n)
		}
	}
	if len(want) == 0 {
		want = []string{cmpOr(env.getenv("AWS_PROFILE"), "default")}
	}
	out := make([]inventory.Profile, 0, len(want))
	for _, n := range want {
		p := inventory.Profile{Name: n}
		for _, k := range known {
			if k.Name == n {
				p = k
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// terminalMFA is stdinMFA when stdin is a terminal, else nil (an
// assume-role MFA profile then fails with a clear error instead of reading
// the data on stdin).
func terminalMFA(env *cliEnv) func(profile string) (string, error) {
	if !isTerminal(env.stdin) {
		return nil
	}
	return stdinMFA(env)
}

// stdinMFA returns an MFA callback for non-TUI commands: it prompts on
// stderr and reads one line from stdin, one profile at a time.
func stdinMFA(env *cliEnv) func(profile string) (string, error) {
	var mu sync.Mutex
	rd := bufio.NewReader(env.stdin)
	return func(profile string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(env.stderr, "MFA code for profile %s: ", profile)
		line, err := rd.ReadString('\n')
		code := strings.TrimSpace(line)
		if code == "" {
			if err == nil {
				err = fmt.Errorf("empty code")
			}
			return "", fmt.Errorf("read MFA code for profile %s: %w", profile, err)
		}
		return code, nil
	}
}
