package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/ssmtui/ssmtui/doctor"
	"github.com/ssmtui/ssmtui/inventory"
)

func init() {
	register(command{
		name:    "doctor",
		summary: "explain why an instance is missing from Session Manager or unreachable",
		run:     runDoctor,
	})
}

// runDoctor is `ssmtui doctor TARGET`: it finds TARGET with EC2 (it may be
// unknown to Systems Manager) in --region or every enabled region, runs
// doctor.Diagnose and prints one line per check with the next step for each
// problem. Exit code 0: nothing failed; 1: a check failed; 2: TARGET not
// found or ambiguous.
func runDoctor(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "ssmtui doctor",
		"usage: ssmtui doctor [flags] TARGET",
		"\nExplains why an EC2 instance is missing from Session Manager or cannot be reached: its state,",
		"agent, instance profile and role policy, the route to Systems Manager or the VPC endpoints, the",
		"VPC's DNS and the security groups. TARGET: instance ID, Name tag, private IP or private DNS name.",
		"Exit code: 0 when no check failed, 1 when one did, 2 when TARGET is not found or ambiguous.",
	)
	profile := fs.String("profile", "", "AWS `profile` (default: $AWS_PROFILE, else default)")
	region := fs.String("region", "", "look only in this `region`")
	pos, rest, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 || len(rest) > 0 {
		fs.Usage()
		return usageError("doctor takes exactly one TARGET")
	}
	target := pos[0]
	if strings.HasPrefix(target, "mi-") {
		return usageError("%s is a hybrid (mi-) node: doctor checks EC2 instances; on that machine check the agent's registration (amazon-ssm-agent logs) and its outbound HTTPS to Systems Manager", target)
	}
	p, implicit, err := profileFor(env, *profile)
	if err != nil {
		return err
	}
	name := p.Name
	if implicit {
		name = ""
	}
	cfg, err := loadAWSConfig(ctx, env, awsOptions{Profile: name, MFA: terminalMFA(env)})
	if err != nil {
		return inventory.ClassifyCredentialsError(p, err)
	}
	if cfg.Credentials != nil {
		if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
			return inventory.ClassifyCredentialsError(p, err)
		}
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	regions := splitList(*region)
	if len(regions) == 0 {
		if regions, err = inventory.EnabledRegions(ctx, ec2.NewFromConfig(cfg)); err != nil {
			fmt.Fprintf(env.stderr, "ssmtui doctor: %v; looking in the default region list\n", err)
			regions = inventory.FallbackRegions
		}
	}
	ec2For := func(r string) doctor.EC2API { return ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = r }) }
	cands, err := doctor.Find(ctx, regions, ec2For, target)
	if err != nil {
		return err
	}
	switch len(cands) {
	case 0:
		return &exitError{code: 2, err: fmt.Errorf("no EC2 instance matches %q in %s (profile %s); doctor looks up instance IDs, exact Name tags, private IPs and private DNS names",
			target, strings.Join(regions, ", "), p.Name)}
	case 1:
	default:
		var b strings.Builder
		for _, c := range cands {
			fmt.Fprintf(&b, "\n  %s  %s  %s  %s", c.InstanceID, c.Name, c.Region, c.State)
		}
		return &exitError{code: 2, err: fmt.Errorf("%q matches %d instances; name one by ID (or add --region):%s", target, len(cands), b.String())}
	}
	c := cands[0]
	rep, err := doctor.Diagnose(ctx, doctorClients(cfg, c.Region), c.InstanceID)
	if err != nil {
		return err
	}
	printReport(env.stdout, rep)
	if rep.Failed() {
		return &exitError{code: 1}
	}
	return nil
}

// doctorClients are cfg's clients for region (IAM is global).
func doctorClients(cfg aws.Config, region string) doctor.Clients {
	return doctor.Clients{
		EC2:    ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = region }),
		SSM:    ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.Region = region }),
		IAM:    iam.NewFromConfig(cfg),
		Region: region,
	}
}

// doctorView is the picker's d: a report shown on the terminal the picker
// handed over, until Enter.
type doctorView struct {
	rep    *doctor.Report
	stdin  io.Reader
	stdout io.Writer
}

func (v *doctorView) SetStdin(r io.Reader)  { v.stdin = r }
func (v *doctorView) SetStdout(w io.Writer) { v.stdout = w }
func (v *doctorView) SetStderr(io.Writer)   {}

// Run prints the report and waits for a line (Enter) or the end of stdin.
func (v *doctorView) Run() error {
	printReport(v.stdout, v.rep)
	fmt.Fprint(v.stdout, "\npress Enter to return to the picker ")
	if _, err := bufio.NewReader(v.stdin).ReadString('\n'); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the terminal: %w", err)
	}
	return nil
}

// Close implements ui.Session; a report holds nothing open.
func (v *doctorView) Close() error { return nil }

// printReport writes one line per check, the fix under each problem, and a
// closing verdict.
func printReport(w io.Writer, rep *doctor.Report) {
	label := rep.InstanceID
	if rep.Name != "" {
		label = rep.Name + " (" + rep.InstanceID + ")"
	}
	fmt.Fprintf(w, "%s in %s\n", label, rep.Region)
	width := 0
	for _, c := range rep.Checks {
		width = max(width, len(c.Name))
	}
	mark := map[doctor.Status]string{doctor.OK: "ok  ", doctor.Warn: "WARN", doctor.Fail: "FAIL", doctor.Unknown: "??  "}
	failed := 0
	for _, c := range rep.Checks {
		fmt.Fprintf(w, "  %s  %-*s  %s\n", mark[c.Status], width, c.Name, c.Detail)
		if c.Fix != "" && c.Status != doctor.OK {
			fmt.Fprintf(w, "        %-*s  → %s\n", width, "", c.Fix)
		}
		if c.Status == doctor.Fail {
			failed++
		}
	}
	switch failed {
	case 0:
		fmt.Fprintln(w, "no problems found")
	case 1:
		fmt.Fprintln(w, "1 problem found")
	default:
		fmt.Fprintf(w, "%d problems found; fix them from the top\n", failed)
	}
}
