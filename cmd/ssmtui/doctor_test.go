package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ssmtui/ssmtui/inventory"
	"github.com/ssmtui/ssmtui/sandbox"
	"github.com/ssmtui/ssmtui/ui"
)

// TestDoctorDemoCases runs `ssmtui doctor` on the demo fleet's five broken
// instances (eu-central-1, profile demo-prod) and on their healthy
// neighbour: each finds its one fault with the command that fixes it.
func TestDoctorDemoCases(t *testing.T) {
	listEnv(t)
	for _, c := range []struct {
		name  string
		code  int
		wants []string
	}{
		{"legacy-batch-1", 1, []string{"FAIL  instance profile", "associate-iam-instance-profile --instance-id i-0c1a5e0b7d3f42a91"}},
		{"orders-db-1", 1, []string{"FAIL  role policy", "orders-db-role lacks AmazonSSMManagedInstanceCore", "attach-role-policy --role-name orders-db-role"}},
		{"private-worker-1", 1, []string{"FAIL  route to Systems Manager", "no VPC endpoints for ssm, ssmmessages, ec2messages", "com.amazonaws.eu-central-1.ssmmessages"}},
		{"reports-1", 1, []string{"FAIL  endpoint security groups", "authorize-security-group-ingress"}},
		{"metrics-1", 1, []string{"FAIL  VPC DNS", "enableDnsHostnames off", "--enable-dns-hostnames"}},
		{"reporting-fra", 0, []string{"ok    Systems Manager", "ok    route to Systems Manager  VPC endpoints", "no problems found"}},
	} {
		out, errOut, code := runCLI(t, "doctor", "--profile", "demo-prod", c.name)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d\n%s%s", c.name, code, c.code, out, errOut)
			continue
		}
		for _, w := range c.wants {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, w, out)
			}
		}
		// Each broken instance has exactly its own fault (plus "not registered").
		if c.code == 1 && !strings.Contains(out, "2 problems found") {
			t.Errorf("%s: want 2 problems (registration + its fault):\n%s", c.name, out)
		}
	}
}

func TestDoctorTargets(t *testing.T) {
	listEnv(t)
	// By instance ID, in the region given.
	out, errOut, code := runCLI(t, "doctor", "--profile", "demo-prod", "--region", "eu-central-1", "i-0c5e9c4f1b7d86e35")
	if code != 1 || !strings.HasPrefix(out, "metrics-1 (i-0c5e9c4f1b7d86e35) in eu-central-1") {
		t.Errorf("by ID: exit %d\n%s%s", code, out, errOut)
	}
	_, errOut, code = runCLI(t, "doctor", "--profile", "demo-prod", "no-such-instance")
	if code != 2 || !strings.Contains(errOut, `no EC2 instance matches "no-such-instance"`) {
		t.Errorf("unknown: exit %d, %s", code, errOut)
	}
	_, errOut, code = runCLI(t, "doctor", "--profile", "demo-prod", "mi-0123456789abcdef0")
	if code != 2 || !strings.Contains(errOut, "hybrid (mi-) node") {
		t.Errorf("mi-: exit %d, %s", code, errOut)
	}
	_, errOut, code = runCLI(t, "doctor", "--profile", "demo-prod")
	if code != 2 {
		t.Errorf("no target: exit %d, %s", code, errOut)
	}
}

// TestConnectorDoctorMode: the picker's d goes through the connector, which
// diagnoses the instance (offline ones included) and returns a session
// that prints the report and returns on Enter.
func TestConnectorDoctorMode(t *testing.T) {
	newCxEnv(t, sandbox.Options{})
	c := &sshConnector{loadConfig: func(ctx context.Context, profile string) (aws.Config, error) {
		return loadAWSConfig(ctx, cxCLIEnv(), awsOptions{Profile: profile})
	}}
	inst := inventory.Instance{ID: cxLost, Name: "batch", Region: "us-east-1", Profile: cxProfile, PingStatus: "ConnectionLost"}
	var phases []string
	sess, err := c.Connect(context.Background(), inst, ui.ModeDoctor, nil, func(s string) { phases = append(phases, s) })
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var out bytes.Buffer
	sess.SetStdin(strings.NewReader("\n"))
	sess.SetStdout(&out)
	sess.SetStderr(io.Discard)
	if err := sess.Run(); err != nil {
		t.Fatal(err)
	}
	wantContains(t, "report", out.String(), "batch ("+cxLost+") in us-east-1", "FAIL  Systems Manager", "ConnectionLost", "press Enter to return")
	if len(phases) != 1 || !strings.Contains(phases[0], "diagnosing "+cxLost) {
		t.Errorf("phases = %q", phases)
	}
}
